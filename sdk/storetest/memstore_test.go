package storetest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"iter"
	"slices"
	"sync"
	"time"

	"github.com/izyware/izypop3/sdk"
)

// memStore is the reference store the suite is tested against: the
// simplest correct sdk.Store, in memory.
type memStore struct {
	mu      sync.Mutex
	boxes   map[string]*memBox
	nextUID int64
	locks   map[string]string
}

type memBox struct {
	items []*memItem // in Put order
}

type memItem struct {
	sdk.Item
	data []byte
	sha  string
}

var (
	_ sdk.Store      = (*memStore)(nil)
	_ sdk.Configurer = (*memStore)(nil)
	_ sdk.TopFetcher = (*memStore)(nil)
	_ sdk.Locker     = (*memStore)(nil)
	_ sdk.Checker    = (*memStore)(nil)
)

func newMemStore() *memStore {
	return &memStore{boxes: map[string]*memBox{}, locks: map[string]string{}}
}

func validMailbox(m string) error {
	if len(m) < 1 || len(m) > maxMailboxLen || m == "." || m == ".." {
		return fmt.Errorf("%w: mailbox name %q", sdk.ErrInvalid, m)
	}
	for i := 0; i < len(m); i++ {
		if c := m[i]; c < 0x20 || c == 0x7f || c == '/' || c == '\\' {
			return fmt.Errorf("%w: mailbox name %q", sdk.ErrInvalid, m)
		}
	}
	return nil
}

// box returns the mailbox, creating it; the caller holds s.mu.
func (s *memStore) box(m string) *memBox {
	b := s.boxes[m]
	if b == nil {
		b = &memBox{}
		s.boxes[m] = b
	}
	return b
}

func (b *memBox) find(uid string) (int, *memItem) {
	for i, it := range b.items {
		if it.UID == uid {
			return i, it
		}
	}
	return -1, nil
}

func (s *memStore) Configure(ctx context.Context, config map[string]string) error {
	for k := range config {
		return fmt.Errorf("%w: unknown config key %q", sdk.ErrInvalid, k)
	}
	return nil
}

func (s *memStore) List(ctx context.Context, mailbox string, opts sdk.ListOptions) iter.Seq2[sdk.Item, error] {
	return func(yield func(sdk.Item, error) bool) {
		if err := validMailbox(mailbox); err != nil {
			yield(sdk.Item{}, err)
			return
		}
		for _, tag := range opts.Tags {
			if !tag.Valid() {
				yield(sdk.Item{}, fmt.Errorf("%w: tag %q", sdk.ErrInvalid, tag))
				return
			}
		}
		s.mu.Lock()
		var items []sdk.Item
		for _, it := range s.box(mailbox).items {
			if len(opts.Tags) == 0 || slices.Contains(opts.Tags, it.Tag) {
				items = append(items, it.Item)
			}
		}
		s.mu.Unlock()
		if opts.Limit > 0 && len(items) > opts.Limit {
			items = items[:opts.Limit]
		}
		for _, it := range items {
			if err := ctx.Err(); err != nil {
				yield(sdk.Item{}, err)
				return
			}
			if !yield(it, nil) {
				return
			}
		}
	}
}

func (s *memStore) Stat(ctx context.Context, mailbox string) (map[sdk.Tag]sdk.TagStat, error) {
	if err := validMailbox(mailbox); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := map[sdk.Tag]sdk.TagStat{}
	for _, it := range s.box(mailbox).items {
		ts := st[it.Tag]
		ts.Count++
		ts.Size += it.Size
		st[it.Tag] = ts
	}
	return st, nil
}

func (s *memStore) get(ctx context.Context, mailbox, uid string) (*memItem, error) {
	if err := validMailbox(mailbox); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, it := s.box(mailbox).find(uid)
	if it == nil {
		return nil, fmt.Errorf("%w: %s", sdk.ErrNotFound, uid)
	}
	return it, nil
}

func (s *memStore) Fetch(ctx context.Context, mailbox, uid string) (io.ReadCloser, error) {
	it, err := s.get(ctx, mailbox, uid)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(&ctxReader{ctx: ctx, r: bytes.NewReader(it.data)}), nil
}

func (s *memStore) FetchTop(ctx context.Context, mailbox, uid string, lines int) (io.ReadCloser, error) {
	it, err := s.get(ctx, mailbox, uid)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	br := bufio.NewReader(bytes.NewReader(it.data))
	inBody := false
	for n := 0; !inBody || n < lines; {
		line, err := br.ReadBytes('\n')
		out.Write(line)
		if err != nil {
			break
		}
		if inBody {
			n++
		} else if len(bytes.TrimRight(line, "\r\n")) == 0 {
			inBody = true
		}
	}
	return io.NopCloser(&out), nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func (s *memStore) SetTag(ctx context.Context, mailbox string, uids []string, tag sdk.Tag) ([]string, error) {
	if err := validMailbox(mailbox); err != nil {
		return nil, err
	}
	if !tag.Valid() {
		return nil, fmt.Errorf("%w: tag %q", sdk.ErrInvalid, tag)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var notFound []string
	for _, uid := range uids {
		if _, it := s.box(mailbox).find(uid); it != nil {
			it.Tag = tag
		} else {
			notFound = append(notFound, uid)
		}
	}
	return notFound, nil
}

func (s *memStore) Delete(ctx context.Context, mailbox string, uids []string) ([]string, error) {
	if err := validMailbox(mailbox); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.box(mailbox)
	var notFound []string
	for _, uid := range uids {
		if i, _ := b.find(uid); i >= 0 {
			b.items = slices.Delete(b.items, i, i+1)
		} else {
			notFound = append(notFound, uid)
		}
	}
	return notFound, nil
}

func (s *memStore) Put(ctx context.Context, mailbox string, opts sdk.PutOptions, body io.Reader) (sdk.PutResult, error) {
	if err := validMailbox(mailbox); err != nil {
		return sdk.PutResult{}, err
	}
	tag := opts.Tag
	if tag == "" {
		tag = sdk.TagUnread
	}
	if !tag.Valid() {
		return sdk.PutResult{}, fmt.Errorf("%w: tag %q", sdk.ErrInvalid, tag)
	}
	data, err := io.ReadAll(&ctxReader{ctx: ctx, r: body})
	if err != nil {
		return sdk.PutResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return sdk.PutResult{}, err
	}
	sum := sha256.Sum256(data)
	sha := hex.EncodeToString(sum[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.box(mailbox)
	var dupOf string
	for _, it := range b.items {
		if opts.SourceID != "" && it.SourceID == opts.SourceID {
			return sdk.PutResult{UID: it.UID, Size: it.Size, SHA256: it.sha, Tag: it.Tag, Existing: true}, nil
		}
		if dupOf == "" && it.sha == sha {
			dupOf = it.UID
		}
	}
	if dupOf != "" {
		tag = sdk.TagDup
	}
	received := opts.Received
	if received.IsZero() {
		received = time.Now()
	}
	s.nextUID++
	ws, _ := sdk.WireSizeOf(bytes.NewReader(data))
	it := &memItem{
		Item: sdk.Item{UID: fmt.Sprintf("mem-%d", s.nextUID), Size: int64(len(data)), WireSize: ws,
			Tag: tag, SourceID: opts.SourceID, Received: received},
		data: data,
		sha:  sha,
	}
	b.items = append(b.items, it)
	return sdk.PutResult{UID: it.UID, Size: it.Size, SHA256: sha, Tag: tag, DuplicateOf: dupOf}, nil
}

func (s *memStore) Lock(ctx context.Context, mailbox string) (string, error) {
	if err := validMailbox(mailbox); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.locks[mailbox]; ok {
		return "", fmt.Errorf("%w: %s", sdk.ErrInUse, mailbox)
	}
	s.nextUID++
	tok := fmt.Sprintf("lock-%d", s.nextUID)
	s.locks[mailbox] = tok
	return tok, nil
}

func (s *memStore) Unlock(ctx context.Context, mailbox, token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.locks[mailbox] != token {
		return fmt.Errorf("%w: %s is not locked with this token", sdk.ErrConflict, mailbox)
	}
	delete(s.locks, mailbox)
	return nil
}

func (s *memStore) Check(ctx context.Context) error { return ctx.Err() }
