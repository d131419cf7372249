// Package memstore is a reference sdk.Store kept in memory: the simplest
// store that passes storetest.Run and storetest.RunGRPC, for tests (of the
// sdk, of the suite itself, of the host) and for store authors to compare
// their own store against.
//
// It keeps every item in Put order per mailbox, checks mailbox names and
// tags, detects duplicates by SHA-256 and SourceIDs, records WireSize at Put,
// and honours the context (a Fetch reader fails once its context is done).
// UIDs are "mem-" and a number that grows with every Put; none is reused.
package memstore

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

// Store is the reference store: every method of sdk.Store plus Configurer,
// TopFetcher, Locker, Checker and Syncer, in memory. The zero value is not usable;
// call New. It is safe for concurrent use.
type Store struct {
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
	_ sdk.Store      = (*Store)(nil)
	_ sdk.Configurer = (*Store)(nil)
	_ sdk.TopFetcher = (*Store)(nil)
	_ sdk.Locker     = (*Store)(nil)
	_ sdk.Checker    = (*Store)(nil)
	_ sdk.Syncer     = (*Store)(nil)
)

// New returns an empty store.
func New() *Store {
	return &Store{boxes: map[string]*memBox{}, locks: map[string]string{}}
}

// maxMailboxLen is the longest mailbox name (sdk.Store: 1..255 octets).
const maxMailboxLen = 255

// validMailbox checks a mailbox name against the rules of sdk.Store.
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

// ready checks the mailbox name and that ctx is not done, before an
// operation on the mailbox.
func ready(ctx context.Context, mailbox string) error {
	if err := validMailbox(mailbox); err != nil {
		return err
	}
	return ctx.Err()
}

// box returns the mailbox, creating it; the caller holds s.mu.
func (s *Store) box(m string) *memBox {
	b := s.boxes[m]
	if b == nil {
		b = &memBox{}
		s.boxes[m] = b
	}
	return b
}

// find returns the index and item of uid, or -1, nil; the caller holds
// s.mu.
func (b *memBox) find(uid string) (int, *memItem) {
	for i, it := range b.items {
		if it.UID == uid {
			return i, it
		}
	}
	return -1, nil
}

// Configure implements sdk.Configurer: the store takes no keys, so any key
// is an error wrapping sdk.ErrInvalid that names it.
func (s *Store) Configure(ctx context.Context, config map[string]string) error {
	for k := range config {
		return fmt.Errorf("%w: unknown config key %q", sdk.ErrInvalid, k)
	}
	return nil
}

// List implements sdk.Store: the items in Put order.
func (s *Store) List(ctx context.Context, mailbox string, opts sdk.ListOptions) iter.Seq2[sdk.Item, error] {
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

// Stat implements sdk.Store.
func (s *Store) Stat(ctx context.Context, mailbox string) (map[sdk.Tag]sdk.TagStat, error) {
	if err := ready(ctx, mailbox); err != nil {
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

// get returns the item uid of mailbox, ErrNotFound if there is none.
func (s *Store) get(ctx context.Context, mailbox, uid string) (*memItem, error) {
	if err := ready(ctx, mailbox); err != nil {
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

// Fetch implements sdk.Store; the reader fails with ctx.Err() once ctx is
// done.
func (s *Store) Fetch(ctx context.Context, mailbox, uid string) (io.ReadCloser, error) {
	it, err := s.get(ctx, mailbox, uid)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(&ctxReader{ctx: ctx, r: bytes.NewReader(it.data)}), nil
}

// FetchTop implements sdk.TopFetcher: the header, the empty line and at
// most lines body lines.
func (s *Store) FetchTop(ctx context.Context, mailbox, uid string, lines int) (io.ReadCloser, error) {
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

// ctxReader fails once ctx is done.
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

// SetTag implements sdk.Store.
func (s *Store) SetTag(ctx context.Context, mailbox string, uids []string, tag sdk.Tag) ([]string, error) {
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

// Delete implements sdk.Store.
func (s *Store) Delete(ctx context.Context, mailbox string, uids []string) ([]string, error) {
	if err := ready(ctx, mailbox); err != nil {
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

// Put implements sdk.Store. A body that fails to read stores nothing.
func (s *Store) Put(ctx context.Context, mailbox string, opts sdk.PutOptions, body io.Reader) (sdk.PutResult, error) {
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

// Lock implements sdk.Locker (a lock per mailbox, ErrInUse while held).
func (s *Store) Lock(ctx context.Context, mailbox string) (string, error) {
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

// Unlock implements sdk.Locker; a token that does not hold the lock is
// ErrConflict.
func (s *Store) Unlock(ctx context.Context, mailbox, token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.locks[mailbox] != token {
		return fmt.Errorf("%w: %s is not locked with this token", sdk.ErrConflict, mailbox)
	}
	delete(s.locks, mailbox)
	return nil
}

// Check implements sdk.Checker: healthy unless ctx is done.
func (s *Store) Check(ctx context.Context) error { return ctx.Err() }

// Sync implements sdk.Syncer: everything in memory is as durable as it
// gets, so it only checks the mailbox name and the context.
func (s *Store) Sync(ctx context.Context, mailbox string) error {
	return ready(ctx, mailbox)
}
