// Package teststore is the in-memory store behind the storehost tests and
// benchmarks. Besides what Put stores, every mailbox holds virtual messages
// "gen-N": N deterministic octets generated as they are read, so a 50 MiB
// message costs no memory on either side of the plugin boundary.
package teststore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"iter"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/izyware/izypop3/sdk"
)

// GenPrefix starts the UID of a generated message: "gen-1048576" is 1 MiB.
const GenPrefix = "gen-"

// DiscardMailbox is a mailbox whose Puts are read, checked and dropped
// (benchmarks of Put that must not grow the store).
const DiscardMailbox = "discard"

// maxGen bounds a generated message (1 GiB).
const maxGen = 1 << 30

// block is the repeating content of generated messages: lines of 78
// printable octets plus CRLF.
var block = func() []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < 64<<10; i++ {
		fmt.Fprintf(&b, "%06d %s\r\n", i%1000000, strings.Repeat(string(rune('a'+i%26)), 71))
	}
	return b.Bytes()
}()

// Generated returns a reader of the n octets of message gen-n.
func Generated(n int64) io.Reader { return &genReader{left: n} }

type genReader struct {
	off  int64
	left int64
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.left <= 0 {
		return 0, io.EOF
	}
	total := 0
	for len(p) > 0 && g.left > 0 {
		src := block[g.off%int64(len(block)):]
		k := min(int64(len(p)), int64(len(src)), g.left)
		copy(p, src[:k])
		p = p[k:]
		g.off += k
		g.left -= k
		total += int(k)
	}
	return total, nil
}

// Store is the in-memory store. It implements Configurer (one key,
// "greeting"), Checker and Locker.
type Store struct {
	mu     sync.Mutex
	next   int
	items  map[string][]entry
	locks  map[string]string
	config map[string]string
}

type entry struct {
	item sdk.Item
	data []byte
}

var (
	_ sdk.Store      = (*Store)(nil)
	_ sdk.Configurer = (*Store)(nil)
	_ sdk.Checker    = (*Store)(nil)
	_ sdk.Locker     = (*Store)(nil)
)

// New returns an empty store.
func New() *Store {
	return &Store{items: map[string][]entry{}, locks: map[string]string{}}
}

// Configure accepts only the key "greeting".
func (s *Store) Configure(ctx context.Context, cfg map[string]string) error {
	for k := range cfg {
		if k != "greeting" {
			return fmt.Errorf("%w: unknown config key %q", sdk.ErrInvalid, k)
		}
	}
	s.mu.Lock()
	s.config = cfg
	s.mu.Unlock()
	return nil
}

// Check always passes.
func (s *Store) Check(ctx context.Context) error { return ctx.Err() }

// Lock takes the mailbox lock, ErrInUse if held.
func (s *Store) Lock(ctx context.Context, mailbox string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.locks[mailbox]; ok {
		return "", fmt.Errorf("%w: %s", sdk.ErrInUse, mailbox)
	}
	tok := fmt.Sprintf("lock-%d", time.Now().UnixNano())
	s.locks[mailbox] = tok
	return tok, nil
}

// Unlock releases the lock taken with token.
func (s *Store) Unlock(ctx context.Context, mailbox, token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.locks[mailbox] != token {
		return fmt.Errorf("%w: %s not locked with that token", sdk.ErrConflict, mailbox)
	}
	delete(s.locks, mailbox)
	return nil
}

// List yields the stored (not the generated) items.
func (s *Store) List(ctx context.Context, mailbox string, opts sdk.ListOptions) iter.Seq2[sdk.Item, error] {
	return func(yield func(sdk.Item, error) bool) {
		s.mu.Lock()
		es := slices.Clone(s.items[mailbox])
		s.mu.Unlock()
		n := 0
		for _, e := range es {
			if len(opts.Tags) > 0 && !slices.Contains(opts.Tags, e.item.Tag) {
				continue
			}
			if !yield(e.item, nil) {
				return
			}
			if n++; opts.Limit > 0 && n >= opts.Limit {
				return
			}
		}
	}
}

// Stat counts the stored items.
func (s *Store) Stat(ctx context.Context, mailbox string) (map[sdk.Tag]sdk.TagStat, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := map[sdk.Tag]sdk.TagStat{}
	for _, e := range s.items[mailbox] {
		t := st[e.item.Tag]
		t.Count++
		t.Size += e.item.Size
		st[e.item.Tag] = t
	}
	return st, nil
}

// Fetch returns a stored item or a generated message.
func (s *Store) Fetch(ctx context.Context, mailbox, uid string) (io.ReadCloser, error) {
	if n, ok := strings.CutPrefix(uid, GenPrefix); ok {
		size, err := strconv.ParseInt(n, 10, 64)
		if err != nil || size < 0 || size > maxGen {
			return nil, fmt.Errorf("%w: %s", sdk.ErrNotFound, uid)
		}
		return io.NopCloser(Generated(size)), nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.items[mailbox] {
		if e.item.UID == uid {
			return io.NopCloser(bytes.NewReader(e.data)), nil
		}
	}
	return nil, fmt.Errorf("%w: %s/%s", sdk.ErrNotFound, mailbox, uid)
}

func (s *Store) mutate(mailbox string, uids []string, f func(i int) bool) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var nf []string
	for _, uid := range uids {
		i := slices.IndexFunc(s.items[mailbox], func(e entry) bool { return e.item.UID == uid })
		if i < 0 {
			nf = append(nf, uid)
			continue
		}
		if f(i) {
			s.items[mailbox] = slices.Delete(s.items[mailbox], i, i+1)
		}
	}
	return nf
}

// SetTag moves items to tag.
func (s *Store) SetTag(ctx context.Context, mailbox string, uids []string, tag sdk.Tag) ([]string, error) {
	if !tag.Valid() {
		return nil, fmt.Errorf("%w: tag %q", sdk.ErrInvalid, tag)
	}
	return s.mutate(mailbox, uids, func(i int) bool { s.items[mailbox][i].item.Tag = tag; return false }), nil
}

// Delete removes items.
func (s *Store) Delete(ctx context.Context, mailbox string, uids []string) ([]string, error) {
	return s.mutate(mailbox, uids, func(int) bool { return true }), nil
}

// Put stores body in memory; a body read error stores nothing.
func (s *Store) Put(ctx context.Context, mailbox string, opts sdk.PutOptions, body io.Reader) (sdk.PutResult, error) {
	if mailbox == DiscardMailbox {
		h := sha256.New()
		n, err := io.Copy(h, body)
		if err != nil {
			return sdk.PutResult{}, err
		}
		return sdk.PutResult{UID: "discarded", Size: n, SHA256: hex.EncodeToString(h.Sum(nil)), Tag: sdk.TagUnread}, nil
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return sdk.PutResult{}, err
	}
	tag := opts.Tag
	if tag == "" {
		tag = sdk.TagUnread
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	sum := sha256.Sum256(data)
	it := sdk.Item{UID: fmt.Sprintf("u%d", s.next), Size: int64(len(data)), Tag: tag, SourceID: opts.SourceID, Received: time.Now()}
	s.items[mailbox] = append(s.items[mailbox], entry{item: it, data: data})
	return sdk.PutResult{UID: it.UID, Size: it.Size, SHA256: hex.EncodeToString(sum[:]), Tag: tag}, nil
}

// Plain hides the optional interfaces of a store: only sdk.Store remains.
func Plain(s sdk.Store) sdk.Store { return plain{s} }

type plain struct{ sdk.Store }
