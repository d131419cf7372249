package pop3backend

import (
	"context"
	"fmt"
	"io"
	"iter"
	"slices"
	"strings"
	"sync"

	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/storetest/memstore"
)

// memStore is the sdk's reference store (package memstore) instrumented
// for these tests: it records the changing calls so tests can assert exactly
// what a session did, counts Fetches and can fail them, can hide WireSize,
// and can list broken items a real store would never hand out. It
// implements sdk.Store only; the types below add optional interfaces.
type memStore struct {
	ref *memstore.Store

	mu         sync.Mutex
	raw        map[string][]sdk.Item // mailbox → items added by addRaw
	noWireSize bool                  // List reports WireSize 0 (store does not know it)
	fetchErr   error                 // returned by Fetch when set
	fetches    int
	calls      []string // "settag TAG uid,uid" / "delete uid,uid"
}

func newMemStore() *memStore { return &memStore{ref: memstore.New(), raw: make(map[string][]sdk.Item)} }

var _ sdk.Store = (*memStore)(nil)

// add stores data in mailbox with tag (even if the content is a duplicate)
// and returns its UID.
func (s *memStore) add(mailbox, data string, tag sdk.Tag) string {
	res, err := s.ref.Put(context.Background(), mailbox, sdk.PutOptions{Tag: tag}, strings.NewReader(data))
	if err != nil {
		panic(err)
	}
	if res.Tag != tag {
		if _, err := s.ref.SetTag(context.Background(), mailbox, []string{res.UID}, tag); err != nil {
			panic(err)
		}
	}
	return res.UID
}

// addRaw lists it as given after the stored items (for broken-store cases:
// a bad or repeated UID, a wrong size). Only List shows it: Stat does not
// count it and Fetch never returns it.
func (s *memStore) addRaw(mailbox string, it sdk.Item) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.raw[mailbox] = append(s.raw[mailbox], it)
}

// tags returns "uid:tag" for every stored item of mailbox, in order.
func (s *memStore) tags(mailbox string) string {
	var out []string
	for it, err := range s.ref.List(context.Background(), mailbox, sdk.ListOptions{}) {
		if err != nil {
			panic(err)
		}
		out = append(out, it.UID+":"+string(it.Tag))
	}
	return strings.Join(out, " ")
}

func (s *memStore) changes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

func (s *memStore) List(ctx context.Context, mailbox string, opts sdk.ListOptions) iter.Seq2[sdk.Item, error] {
	return func(yield func(sdk.Item, error) bool) {
		s.mu.Lock()
		noWireSize, raw := s.noWireSize, slices.Clone(s.raw[mailbox])
		s.mu.Unlock()
		n := 0
		emit := func(it sdk.Item) bool {
			if len(opts.Tags) > 0 && !slices.Contains(opts.Tags, it.Tag) {
				return true
			}
			if opts.Limit > 0 && n >= opts.Limit {
				return false
			}
			n++
			if noWireSize {
				it.WireSize = 0
			}
			return yield(it, nil)
		}
		for it, err := range s.ref.List(ctx, mailbox, sdk.ListOptions{Tags: opts.Tags}) {
			if err != nil {
				yield(sdk.Item{}, err)
				return
			}
			if !emit(it) {
				return
			}
		}
		for _, it := range raw {
			if !emit(it) {
				return
			}
		}
	}
}

// Stat counts the stored items only (the backend never calls it).
func (s *memStore) Stat(ctx context.Context, mailbox string) (map[sdk.Tag]sdk.TagStat, error) {
	return s.ref.Stat(ctx, mailbox)
}

func (s *memStore) Fetch(ctx context.Context, mailbox, uid string) (io.ReadCloser, error) {
	s.mu.Lock()
	s.fetches++
	err := s.fetchErr
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return s.ref.Fetch(ctx, mailbox, uid)
}

// record notes a changing call.
func (s *memStore) record(call string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, call)
}

func (s *memStore) SetTag(ctx context.Context, mailbox string, uids []string, tag sdk.Tag) ([]string, error) {
	s.record("settag " + string(tag) + " " + strings.Join(uids, ","))
	return s.ref.SetTag(ctx, mailbox, uids, tag)
}

func (s *memStore) Delete(ctx context.Context, mailbox string, uids []string) ([]string, error) {
	s.record("delete " + strings.Join(uids, ","))
	return s.ref.Delete(ctx, mailbox, uids)
}

func (s *memStore) Put(ctx context.Context, mailbox string, opts sdk.PutOptions, body io.Reader) (sdk.PutResult, error) {
	return s.ref.Put(ctx, mailbox, opts, body)
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
