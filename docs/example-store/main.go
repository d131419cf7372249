// Command izypop3-store-memo is an example izypop3 mimestore: it keeps
// messages in the plugin process's memory (they are gone when the plugin
// stops). It shows everything a store needs: the sdk.Store methods, a
// strict Configurer, the sentinel errors, and sdk.Serve.
//
// Build it as izypop3-store-memo, put it in the plugin directory, and run
// izypop3 with --modhandler memo --mimestore.maxsize=10485760.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"iter"
	"strconv"
	"sync"
	"time"

	"github.com/izyware/izypop3/sdk"
)

// defaultMaxSize is the largest message Put accepts unless configured.
const defaultMaxSize = 64 << 20

// maxMailboxLen is the longest mailbox name (sdk.Store contract).
const maxMailboxLen = 255

type item struct {
	sdk.Item
	data []byte
	sum  string // hex SHA-256 of data
}

// Store is the memo store. The zero value is not usable; call New.
type Store struct {
	mu      sync.Mutex
	maxSize int64
	nextUID int64              // UIDs are never reused
	boxes   map[string][]*item // mailbox → items, in Put order
}

// The compiler checks the interfaces implemented.
var (
	_ sdk.Store           = (*Store)(nil)
	_ sdk.Configurer      = (*Store)(nil)
	_ sdk.ConfigDescriber = (*Store)(nil)
)

// New returns an empty store.
func New() *Store {
	return &Store{maxSize: defaultMaxSize, boxes: map[string][]*item{}}
}

// configKeys describe the config block: izypop3 refuses any other key and
// `izypop3 plugins` lists them.
var configKeys = []sdk.ConfigKey{
	{Name: "maxsize", Help: "largest message Put accepts, in octets (default 64 MiB)"},
}

// ConfigKeys implements sdk.ConfigDescriber.
func (s *Store) ConfigKeys() []sdk.ConfigKey { return configKeys }

// Configure takes the store's config block (--mimestore.KEY=VALUE without
// the prefix). Decoding is strict: an unknown key is an error naming it.
func (s *Store) Configure(ctx context.Context, config map[string]string) error {
	if err := sdk.CheckConfig("memo", configKeys, config); err != nil {
		return err
	}
	for k, v := range config {
		switch k {
		case "maxsize":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				return fmt.Errorf("%w: maxsize %q is not a positive number of octets", sdk.ErrInvalid, v)
			}
			s.mu.Lock()
			s.maxSize = n
			s.mu.Unlock()
		}
	}
	return nil
}

// checkMailbox enforces the mailbox name rules of the sdk.Store contract.
func checkMailbox(m string) error {
	if m == "" || len(m) > maxMailboxLen || m == "." || m == ".." {
		return fmt.Errorf("%w: mailbox name %q", sdk.ErrInvalid, m)
	}
	for i := 0; i < len(m); i++ {
		if c := m[i]; c < 0x20 || c == 0x7f || c == '/' || c == '\\' {
			return fmt.Errorf("%w: mailbox name %q", sdk.ErrInvalid, m)
		}
	}
	return nil
}

// begin checks what every method checks first.
func begin(ctx context.Context, mailbox string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return checkMailbox(mailbox)
}

// List yields the items in Put order (a stable order).
func (s *Store) List(ctx context.Context, mailbox string, opts sdk.ListOptions) iter.Seq2[sdk.Item, error] {
	return func(yield func(sdk.Item, error) bool) {
		if err := begin(ctx, mailbox); err != nil {
			yield(sdk.Item{}, err)
			return
		}
		want := map[sdk.Tag]bool{}
		for _, t := range opts.Tags {
			if !t.Valid() {
				yield(sdk.Item{}, fmt.Errorf("%w: tag %q", sdk.ErrInvalid, t))
				return
			}
			want[t] = true
		}
		s.mu.Lock()
		var out []sdk.Item
		for _, it := range s.boxes[mailbox] {
			if len(want) == 0 || want[it.Tag] {
				out = append(out, it.Item)
			}
			if opts.Limit > 0 && len(out) == opts.Limit {
				break
			}
		}
		s.mu.Unlock() // never yield with the lock held
		for _, it := range out {
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

// Stat counts the items of each tag.
func (s *Store) Stat(ctx context.Context, mailbox string) (map[sdk.Tag]sdk.TagStat, error) {
	if err := begin(ctx, mailbox); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := map[sdk.Tag]sdk.TagStat{}
	for _, it := range s.boxes[mailbox] {
		ts := st[it.Tag]
		ts.Count++
		ts.Size += it.Size
		st[it.Tag] = ts
	}
	return st, nil
}

// find returns the index of uid in mailbox, -1 if absent. s.mu must be held.
func (s *Store) find(mailbox, uid string) int {
	for i, it := range s.boxes[mailbox] {
		if it.UID == uid {
			return i
		}
	}
	return -1
}

// Fetch returns the octets of an item.
func (s *Store) Fetch(ctx context.Context, mailbox, uid string) (io.ReadCloser, error) {
	if err := begin(ctx, mailbox); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.find(mailbox, uid)
	if i < 0 {
		return nil, fmt.Errorf("%w: %s in %s", sdk.ErrNotFound, uid, mailbox)
	}
	// The octets of an item never change, so the reader needs no lock.
	return io.NopCloser(bytes.NewReader(s.boxes[mailbox][i].data)), nil
}

// SetTag moves items to tag; unknown UIDs are returned.
func (s *Store) SetTag(ctx context.Context, mailbox string, uids []string, tag sdk.Tag) ([]string, error) {
	if err := begin(ctx, mailbox); err != nil {
		return nil, err
	}
	if !tag.Valid() {
		return nil, fmt.Errorf("%w: tag %q", sdk.ErrInvalid, tag)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var notFound []string
	for _, uid := range uids {
		if i := s.find(mailbox, uid); i >= 0 {
			s.boxes[mailbox][i].Tag = tag
		} else {
			notFound = append(notFound, uid)
		}
	}
	return notFound, nil
}

// Delete removes items; unknown UIDs are returned.
func (s *Store) Delete(ctx context.Context, mailbox string, uids []string) ([]string, error) {
	if err := begin(ctx, mailbox); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var notFound []string
	for _, uid := range uids {
		if i := s.find(mailbox, uid); i >= 0 {
			box := s.boxes[mailbox]
			s.boxes[mailbox] = append(box[:i:i], box[i+1:]...)
		} else {
			notFound = append(notFound, uid)
		}
	}
	return notFound, nil
}

// Put reads the whole body first: if reading fails (the host went away, or
// the plugin boundary's size/SHA-256 check failed), nothing is stored.
func (s *Store) Put(ctx context.Context, mailbox string, opts sdk.PutOptions, body io.Reader) (sdk.PutResult, error) {
	if err := begin(ctx, mailbox); err != nil {
		return sdk.PutResult{}, err
	}
	tag := opts.Tag
	if tag == "" {
		tag = sdk.TagUnread
	}
	if !tag.Valid() {
		return sdk.PutResult{}, fmt.Errorf("%w: tag %q", sdk.ErrInvalid, tag)
	}
	s.mu.Lock()
	limit := s.maxSize
	s.mu.Unlock()

	var buf bytes.Buffer
	var wire sdk.WireCounter
	n, err := io.Copy(io.MultiWriter(&buf, &wire), io.LimitReader(body, limit+1))
	if err != nil {
		return sdk.PutResult{}, fmt.Errorf("put: reading the message: %w", err)
	}
	if n > limit {
		return sdk.PutResult{}, fmt.Errorf("%w: message larger than maxsize (%d octets)", sdk.ErrInvalid, limit)
	}
	if err := ctx.Err(); err != nil {
		return sdk.PutResult{}, err
	}
	sum := sha256.Sum256(buf.Bytes())
	hexSum := hex.EncodeToString(sum[:])

	s.mu.Lock()
	defer s.mu.Unlock()
	box := s.boxes[mailbox]
	var dupOf string
	for _, it := range box {
		if opts.SourceID != "" && it.SourceID == opts.SourceID {
			// Already stored from that source: keep the existing item.
			return sdk.PutResult{UID: it.UID, Size: it.Size, SHA256: it.sum, Tag: it.Tag, Existing: true}, nil
		}
		if dupOf == "" && it.sum == hexSum {
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
	it := &item{
		Item: sdk.Item{
			UID:      "memo" + strconv.FormatInt(s.nextUID, 10),
			Size:     n,
			WireSize: wire.Size(),
			Tag:      tag,
			SourceID: opts.SourceID,
			Received: received,
		},
		data: buf.Bytes(),
		sum:  hexSum,
	}
	s.boxes[mailbox] = append(box, it)
	return sdk.PutResult{UID: it.UID, Size: n, SHA256: hexSum, Tag: tag, DuplicateOf: dupOf}, nil
}

func main() {
	sdk.Serve(New(), sdk.WithName("memo"), sdk.WithVersion("1.0.0"))
}
