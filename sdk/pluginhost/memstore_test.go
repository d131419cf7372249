package pluginhost

import (
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

// memStore is a minimal in-memory sdk.Store for the gRPC adapter tests. It reads
// Put bodies to the end and stores nothing if reading fails, like a real
// store must.
type memStore struct {
	mu    sync.Mutex
	next  int
	items map[string][]memItem // mailbox → items in UID order

	// failWith, if set, is returned by every method (error identity tests).
	failWith error
	// putErrs records the body read errors Put saw.
	putErrs []error
	// fetchClosed is signalled when a Fetch reader is closed.
	fetchClosed chan struct{}
}

type memItem struct {
	item sdk.Item
	data []byte
}

func newMemStore() *memStore {
	return &memStore{items: map[string][]memItem{}, fetchClosed: make(chan struct{}, 16)}
}

var _ sdk.Store = (*memStore)(nil)

func (m *memStore) List(ctx context.Context, mailbox string, opts sdk.ListOptions) iter.Seq2[sdk.Item, error] {
	return func(yield func(sdk.Item, error) bool) {
		if m.failWith != nil {
			yield(sdk.Item{}, m.failWith)
			return
		}
		m.mu.Lock()
		items := slices.Clone(m.items[mailbox])
		m.mu.Unlock()
		n := 0
		for _, it := range items {
			if len(opts.Tags) > 0 && !slices.Contains(opts.Tags, it.item.Tag) {
				continue
			}
			if err := ctx.Err(); err != nil {
				yield(sdk.Item{}, err)
				return
			}
			if !yield(it.item, nil) {
				return
			}
			n++
			if opts.Limit > 0 && n == opts.Limit {
				return
			}
		}
	}
}

func (m *memStore) Stat(ctx context.Context, mailbox string) (map[sdk.Tag]sdk.TagStat, error) {
	if m.failWith != nil {
		return nil, m.failWith
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	st := map[sdk.Tag]sdk.TagStat{}
	for _, it := range m.items[mailbox] {
		s := st[it.item.Tag]
		s.Count++
		s.Size += it.item.Size
		st[it.item.Tag] = s
	}
	return st, nil
}

func (m *memStore) find(mailbox, uid string) (memItem, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, it := range m.items[mailbox] {
		if it.item.UID == uid {
			return it, true
		}
	}
	return memItem{}, false
}

type notifyCloser struct {
	io.Reader
	ch chan struct{}
}

func (n *notifyCloser) Close() error {
	n.ch <- struct{}{}
	return nil
}

func (m *memStore) Fetch(ctx context.Context, mailbox, uid string) (io.ReadCloser, error) {
	if m.failWith != nil {
		return nil, m.failWith
	}
	it, ok := m.find(mailbox, uid)
	if !ok {
		return nil, fmt.Errorf("fetch %s/%s: %w", mailbox, uid, sdk.ErrNotFound)
	}
	return &notifyCloser{Reader: bytes.NewReader(it.data), ch: m.fetchClosed}, nil
}

func (m *memStore) mutate(mailbox string, uids []string, f func(i int) bool) ([]string, error) {
	if m.failWith != nil {
		return nil, m.failWith
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var notFound []string
	for _, uid := range uids {
		idx := slices.IndexFunc(m.items[mailbox], func(it memItem) bool { return it.item.UID == uid })
		if idx < 0 {
			notFound = append(notFound, uid)
			continue
		}
		if f(idx) {
			m.items[mailbox] = slices.Delete(m.items[mailbox], idx, idx+1)
		}
	}
	return notFound, nil
}

func (m *memStore) SetTag(ctx context.Context, mailbox string, uids []string, tag sdk.Tag) ([]string, error) {
	if !tag.Valid() {
		return nil, fmt.Errorf("%w: tag %q", sdk.ErrInvalid, tag)
	}
	return m.mutate(mailbox, uids, func(i int) bool {
		m.items[mailbox][i].item.Tag = tag
		return false
	})
}

func (m *memStore) Delete(ctx context.Context, mailbox string, uids []string) ([]string, error) {
	return m.mutate(mailbox, uids, func(int) bool { return true })
}

func (m *memStore) Put(ctx context.Context, mailbox string, opts sdk.PutOptions, body io.Reader) (sdk.PutResult, error) {
	if m.failWith != nil {
		io.Copy(io.Discard, body)
		return sdk.PutResult{}, m.failWith
	}
	data, err := io.ReadAll(body)
	if err != nil {
		m.mu.Lock()
		m.putErrs = append(m.putErrs, err)
		m.mu.Unlock()
		return sdk.PutResult{}, err
	}
	tag := opts.Tag
	if tag == "" {
		tag = sdk.TagUnread
	}
	rx := opts.Received
	if rx.IsZero() {
		rx = time.Now()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.next++
	sum := sha256.Sum256(data)
	it := sdk.Item{UID: fmt.Sprintf("m%06d", m.next), Size: int64(len(data)), Tag: tag, SourceID: opts.SourceID, Received: rx}
	m.items[mailbox] = append(m.items[mailbox], memItem{item: it, data: data})
	return sdk.PutResult{UID: it.UID, Size: it.Size, SHA256: hex.EncodeToString(sum[:]), Tag: tag}, nil
}

func (m *memStore) count(mailbox string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.items[mailbox])
}

// memFull adds the optional interfaces to memStore.
type memFull struct {
	*memStore
	config map[string]string
}

func (m *memFull) Configure(ctx context.Context, cfg map[string]string) error {
	for k := range cfg {
		if k != "path" {
			return fmt.Errorf("%w: unknown config key %q", sdk.ErrInvalid, k)
		}
	}
	m.config = cfg
	return nil
}

func (m *memFull) Authenticate(ctx context.Context, user, pass string) (string, error) {
	if user == "u" && pass == "p" {
		return "INBOX", nil
	}
	return "", fmt.Errorf("%w: user %q", sdk.ErrAuthFailed, user)
}

func (m *memFull) Lock(ctx context.Context, mailbox string) (string, error) {
	return "tok-" + mailbox, nil
}

func (m *memFull) Unlock(ctx context.Context, mailbox, token string) error {
	if token != "tok-"+mailbox {
		return fmt.Errorf("%w: bad token", sdk.ErrConflict)
	}
	return nil
}

func (m *memFull) Check(ctx context.Context) error { return nil }

func (m *memFull) FetchTop(ctx context.Context, mailbox, uid string, lines int) (io.ReadCloser, error) {
	rc, err := m.Fetch(ctx, mailbox, uid)
	if err != nil {
		return nil, err
	}
	return rc, nil
}
