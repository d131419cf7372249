package pop3backend

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"iter"
	"slices"
	"strings"
	"sync"

	"github.com/izyware/izypop3/sdk"
)

// memStore is a tiny in-memory sdk.Store for these tests. It records the
// changing calls so tests can assert exactly what a session did.
type memStore struct {
	mu         sync.Mutex
	boxes      map[string][]*memItem // mailbox → items in List order
	next       int
	noWireSize bool  // List reports WireSize 0 (store does not know it)
	fetchErr   error // returned by Fetch when set
	fetches    int
	calls      []string // "settag TAG uid,uid" / "delete uid,uid"
}

type memItem struct {
	item sdk.Item
	data []byte
}

func newMemStore() *memStore { return &memStore{boxes: make(map[string][]*memItem)} }

var _ sdk.Store = (*memStore)(nil)

// add stores data in mailbox with tag and returns its UID.
func (s *memStore) add(mailbox, data string, tag sdk.Tag) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	uid := fmt.Sprintf("m%03d", s.next)
	ws, _ := sdk.WireSizeOf(strings.NewReader(data))
	s.boxes[mailbox] = append(s.boxes[mailbox], &memItem{
		item: sdk.Item{UID: uid, Size: int64(len(data)), WireSize: ws, Tag: tag},
		data: []byte(data),
	})
	return uid
}

// addRaw stores an item as given (for broken-store cases).
func (s *memStore) addRaw(mailbox string, it sdk.Item, data string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.boxes[mailbox] = append(s.boxes[mailbox], &memItem{item: it, data: []byte(data)})
}

// tags returns "uid:tag" for every item of mailbox, in order.
func (s *memStore) tags(mailbox string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, it := range s.boxes[mailbox] {
		out = append(out, it.item.UID+":"+string(it.item.Tag))
	}
	return strings.Join(out, " ")
}

func (s *memStore) changes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

func (s *memStore) find(mailbox, uid string) *memItem {
	for _, it := range s.boxes[mailbox] {
		if it.item.UID == uid {
			return it
		}
	}
	return nil
}

func (s *memStore) List(ctx context.Context, mailbox string, opts sdk.ListOptions) iter.Seq2[sdk.Item, error] {
	return func(yield func(sdk.Item, error) bool) {
		if err := ctx.Err(); err != nil {
			yield(sdk.Item{}, err)
			return
		}
		s.mu.Lock()
		var items []sdk.Item
		for _, it := range s.boxes[mailbox] {
			if len(opts.Tags) == 0 || slices.Contains(opts.Tags, it.item.Tag) {
				i := it.item
				if s.noWireSize {
					i.WireSize = 0
				}
				items = append(items, i)
			}
		}
		s.mu.Unlock()
		for n, it := range items {
			if opts.Limit > 0 && n >= opts.Limit {
				return
			}
			if !yield(it, nil) {
				return
			}
		}
	}
}

func (s *memStore) Stat(ctx context.Context, mailbox string) (map[sdk.Tag]sdk.TagStat, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := make(map[sdk.Tag]sdk.TagStat)
	for _, it := range s.boxes[mailbox] {
		t := st[it.item.Tag]
		t.Count++
		t.Size += it.item.Size
		st[it.item.Tag] = t
	}
	return st, nil
}

func (s *memStore) Fetch(ctx context.Context, mailbox, uid string) (io.ReadCloser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fetches++
	if s.fetchErr != nil {
		return nil, s.fetchErr
	}
	it := s.find(mailbox, uid)
	if it == nil {
		return nil, fmt.Errorf("%w: %s", sdk.ErrNotFound, uid)
	}
	return io.NopCloser(bytes.NewReader(it.data)), nil
}

func (s *memStore) SetTag(ctx context.Context, mailbox string, uids []string, tag sdk.Tag) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, "settag "+string(tag)+" "+strings.Join(uids, ","))
	var notFound []string
	for _, uid := range uids {
		if it := s.find(mailbox, uid); it != nil {
			it.item.Tag = tag
		} else {
			notFound = append(notFound, uid)
		}
	}
	return notFound, nil
}

func (s *memStore) Delete(ctx context.Context, mailbox string, uids []string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, "delete "+strings.Join(uids, ","))
	var notFound []string
	for _, uid := range uids {
		i := slices.IndexFunc(s.boxes[mailbox], func(it *memItem) bool { return it.item.UID == uid })
		if i < 0 {
			notFound = append(notFound, uid)
			continue
		}
		s.boxes[mailbox] = slices.Delete(s.boxes[mailbox], i, i+1)
	}
	return notFound, nil
}

func (s *memStore) Put(ctx context.Context, mailbox string, opts sdk.PutOptions, body io.Reader) (sdk.PutResult, error) {
	b, err := io.ReadAll(body)
	if err != nil {
		return sdk.PutResult{}, err
	}
	tag := opts.Tag
	if tag == "" {
		tag = sdk.TagUnread
	}
	uid := s.add(mailbox, string(b), tag)
	return sdk.PutResult{UID: uid, Size: int64(len(b)), Tag: tag}, nil
}

// lockingStore adds sdk.Locker (a lock per mailbox) to memStore.
type lockingStore struct {
	*memStore
	lmu     sync.Mutex
	held    map[string]string // mailbox → token
	unlocks int
	lockErr error // returned by Lock when set
}

func (s *lockingStore) Lock(ctx context.Context, mailbox string) (string, error) {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	if s.lockErr != nil {
		return "", s.lockErr
	}
	if s.held == nil {
		s.held = make(map[string]string)
	}
	if _, ok := s.held[mailbox]; ok {
		return "", fmt.Errorf("%w: %s (held by pid 42, secret detail)", sdk.ErrInUse, mailbox)
	}
	tok := "tok-" + mailbox
	s.held[mailbox] = tok
	return tok, nil
}

func (s *lockingStore) Unlock(ctx context.Context, mailbox, token string) error {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	s.unlocks++
	if s.held[mailbox] != token {
		return fmt.Errorf("%w: wrong token", sdk.ErrInvalid)
	}
	delete(s.held, mailbox)
	return nil
}

// topStore adds sdk.TopFetcher to memStore (it returns the whole message,
// which is a valid prefix-holding answer, and counts calls).
type topStore struct {
	*memStore
	tops int
}

func (s *topStore) FetchTop(ctx context.Context, mailbox, uid string, lines int) (io.ReadCloser, error) {
	s.mu.Lock()
	s.tops++
	s.mu.Unlock()
	return s.Fetch(ctx, mailbox, uid)
}

// authStore adds sdk.Authenticator: user "store-user" with password "pw"
// gets mailbox "box"; user "down" makes the store fail.
type authStore struct{ *memStore }

func (s authStore) Authenticate(ctx context.Context, user, pass string) (string, error) {
	switch {
	case user == "down":
		return "", fmt.Errorf("%w: database at 10.0.0.7 unreachable", sdk.ErrUnavailable)
	case user == "store-user" && pass == "pw":
		return "box", nil
	}
	return "", fmt.Errorf("%w: no such user %s", sdk.ErrAuthFailed, user)
}
