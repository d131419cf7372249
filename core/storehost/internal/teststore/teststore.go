// Package teststore is the in-memory store behind the storehost tests and
// benchmarks: the sdk's reference store (package memstore) with two
// additions. Besides what Put stores, every mailbox holds virtual messages
// "gen-N": N deterministic octets generated as they are read, so a 50 MiB
// message costs no memory on either side of the plugin boundary; and Puts to
// DiscardMailbox are read and dropped.
package teststore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"iter"
	"strconv"
	"strings"
	"sync"

	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/storetest/memstore"
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

// Store is the in-memory store: the reference store of package memstore,
// plus the generated messages and the discard mailbox. It implements
// Configurer (one key, "greeting"), Checker and Locker, and not TopFetcher.
type Store struct {
	ref *memstore.Store

	mu     sync.Mutex
	config map[string]string
}

var (
	_ sdk.Store      = (*Store)(nil)
	_ sdk.Configurer = (*Store)(nil)
	_ sdk.Checker    = (*Store)(nil)
	_ sdk.Locker     = (*Store)(nil)
)

// New returns an empty store.
func New() *Store { return &Store{ref: memstore.New()} }

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
func (s *Store) Check(ctx context.Context) error { return s.ref.Check(ctx) }

// Lock takes the mailbox lock, ErrInUse if held.
func (s *Store) Lock(ctx context.Context, mailbox string) (string, error) {
	return s.ref.Lock(ctx, mailbox)
}

// Unlock releases the lock taken with token.
func (s *Store) Unlock(ctx context.Context, mailbox, token string) error {
	return s.ref.Unlock(ctx, mailbox, token)
}

// List yields the stored (not the generated) items.
func (s *Store) List(ctx context.Context, mailbox string, opts sdk.ListOptions) iter.Seq2[sdk.Item, error] {
	return s.ref.List(ctx, mailbox, opts)
}

// Stat counts the stored items.
func (s *Store) Stat(ctx context.Context, mailbox string) (map[sdk.Tag]sdk.TagStat, error) {
	return s.ref.Stat(ctx, mailbox)
}

// Fetch returns a generated message (in any mailbox) or a stored item.
func (s *Store) Fetch(ctx context.Context, mailbox, uid string) (io.ReadCloser, error) {
	if n, ok := strings.CutPrefix(uid, GenPrefix); ok {
		size, err := strconv.ParseInt(n, 10, 64)
		if err != nil || size < 0 || size > maxGen {
			return nil, fmt.Errorf("%w: %s", sdk.ErrNotFound, uid)
		}
		return io.NopCloser(Generated(size)), nil
	}
	return s.ref.Fetch(ctx, mailbox, uid)
}

// SetTag moves stored items to tag.
func (s *Store) SetTag(ctx context.Context, mailbox string, uids []string, tag sdk.Tag) ([]string, error) {
	return s.ref.SetTag(ctx, mailbox, uids, tag)
}

// Delete removes stored items.
func (s *Store) Delete(ctx context.Context, mailbox string, uids []string) ([]string, error) {
	return s.ref.Delete(ctx, mailbox, uids)
}

// Put stores body in memory (a body read error stores nothing); in
// DiscardMailbox it reads and hashes body and keeps nothing.
func (s *Store) Put(ctx context.Context, mailbox string, opts sdk.PutOptions, body io.Reader) (sdk.PutResult, error) {
	if mailbox == DiscardMailbox {
		h := sha256.New()
		n, err := io.Copy(h, body)
		if err != nil {
			return sdk.PutResult{}, err
		}
		return sdk.PutResult{UID: "discarded", Size: n, SHA256: hex.EncodeToString(h.Sum(nil)), Tag: sdk.TagUnread}, nil
	}
	return s.ref.Put(ctx, mailbox, opts, body)
}

// Plain hides the optional interfaces of a store: only sdk.Store remains.
func Plain(s sdk.Store) sdk.Store { return plain{s} }

type plain struct{ sdk.Store }
