package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/izyware/izypop3/core/pop3/pop3server"
	"github.com/izyware/izypop3/core/pop3/pop3server/memback"
	"github.com/izyware/izypop3/internal/mailgen"
	"github.com/izyware/izypop3/internal/testkit"
	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/storetest"
	"github.com/izyware/izypop3/sdk/storetest/memstore"
)

const (
	testUser    = "alice"
	testPass    = "secret pw"
	testMailbox = "inbox"
)

// remoteServer is izypop3's own POP3 server over an in-memory maildrop,
// with a check run at every UPDATE (the moment a server deletes).
type remoteServer struct {
	*memback.Backend
	addr string
	msgs map[string][]byte // by UIDL, as added

	mu       sync.Mutex
	onUpdate func(deleted []string)
	sessions int
}

// wrapBackend sees logins and UPDATEs.
type wrapBackend struct{ rs *remoteServer }

func (w wrapBackend) Login(ctx context.Context, req pop3server.LoginRequest) (pop3server.Mailbox, error) {
	mb, err := w.rs.Backend.Login(ctx, req)
	if err != nil {
		return nil, err
	}
	w.rs.mu.Lock()
	w.rs.sessions++
	w.rs.mu.Unlock()
	return wrapMailbox{mb, w.rs}, nil
}

func (w wrapBackend) APOPEnabled() bool { return w.rs.Backend.APOPEnabled() }

func (w wrapBackend) LoginAPOP(ctx context.Context, name, timestamp, digest, remote string) (pop3server.Mailbox, error) {
	mb, err := w.rs.Backend.LoginAPOP(ctx, name, timestamp, digest, remote)
	if err != nil {
		return nil, err
	}
	return wrapMailbox{mb, w.rs}, nil
}

type wrapMailbox struct {
	pop3server.Mailbox
	rs *remoteServer
}

func (m wrapMailbox) Update(ctx context.Context, deleted, retrieved []string) error {
	m.rs.mu.Lock()
	f := m.rs.onUpdate
	m.rs.mu.Unlock()
	if f != nil {
		f(deleted)
	}
	return m.Mailbox.Update(ctx, deleted, retrieved)
}

func startRemote(t *testing.T, msgs [][]byte) *remoteServer {
	t.Helper()
	rs := &remoteServer{Backend: memback.New(), msgs: map[string][]byte{}}
	rs.AddUser(testUser, testPass)
	for i, m := range msgs {
		uidl := fmt.Sprintf("uidl-%04d", i+1)
		rs.Add(testUser, uidl, m)
		rs.msgs[uidl] = m
	}
	ln := testkit.Listen(t)
	srv := pop3server.New(&pop3server.Options{Backend: wrapBackend{rs}, AuthFailDelay: -1, Hostname: "test.invalid"})
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	rs.addr = ln.Addr().String()
	return rs
}

func (rs *remoteServer) setOnUpdate(f func([]string)) {
	rs.mu.Lock()
	rs.onUpdate = f
	rs.mu.Unlock()
}

// deleteWatch is what watchDeletes saw.
type deleteWatch struct {
	deleted []string // every UIDL deleted on the server
	early   []string // those not yet held, unstaged and durable, by the store
}

// watchDeletes makes rs check, at each UPDATE, that the store st holds
// every message it deletes, unstaged and durable in ts. It takes rs's
// UPDATE hook (setOnUpdate): count the deletes with its deleted. Read it
// after the run.
func watchDeletes(t *testing.T, rs *remoteServer, st sdk.Store, ts *testStore) *deleteWatch {
	prefix, _ := (Account{Addr: rs.addr, User: testUser}).SourceIDPrefix()
	w := &deleteWatch{}
	rs.setOnUpdate(func(deleted []string) {
		w.deleted = append(w.deleted, deleted...)
		held := map[string]storedItem{}
		for _, it := range items(t, st) {
			held[it.SourceID] = it
		}
		for _, uidl := range deleted {
			it, ok := held[prefix+uidl]
			if !ok || it.Tag == sdk.TagStaged || !ts.durable(it.UID) {
				w.early = append(w.early, uidl)
			}
		}
	})
	return w
}

// check fails the test if a message was deleted on the server before it
// was durable in the store.
func (w *deleteWatch) check(t *testing.T) {
	t.Helper()
	if len(w.early) > 0 {
		t.Errorf("deleted on the server before durable in the store: %v", w.early)
	}
}

// testStore is the reference store with a durability barrier: an item is
// durable once a Sync followed its Put (or its last tag change). It can be
// told to fail.
type testStore struct {
	sdk.Store // the reference store, without its optional interfaces
	mu        sync.Mutex
	seq       int
	changed   map[string]int // uid -> seq of its Put or last SetTag
	syncedAt  int
	syncs     int
	failPut   func(n int) error // n: 1 for the first Put
	puts      int
	failSync  func(n int) error // n: 1 for the first Sync (syncStore)
}

func newTestStore() *testStore {
	return &testStore{Store: memstore.New(), changed: map[string]int{}}
}

func (s *testStore) Put(ctx context.Context, mailbox string, opts sdk.PutOptions, body io.Reader) (sdk.PutResult, error) {
	s.mu.Lock()
	s.puts++
	n, f := s.puts, s.failPut
	s.mu.Unlock()
	if f != nil {
		if err := f(n); err != nil {
			io.Copy(io.Discard, body)
			return sdk.PutResult{}, err
		}
	}
	res, err := s.Store.Put(ctx, mailbox, opts, body)
	if err == nil && !res.Existing {
		s.mu.Lock()
		s.seq++
		s.changed[res.UID] = s.seq
		s.mu.Unlock()
	}
	return res, err
}

func (s *testStore) SetTag(ctx context.Context, mailbox string, uids []string, tag sdk.Tag) ([]string, error) {
	nf, err := s.Store.SetTag(ctx, mailbox, uids, tag)
	s.mu.Lock()
	s.seq++
	for _, u := range uids {
		s.changed[u] = s.seq
	}
	s.mu.Unlock()
	return nf, err
}

// durable reports whether uid's item is durable in its current state.
func (s *testStore) durable(uid string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.changed[uid]
	return !ok || c <= s.syncedAt // items not put by the test store count as durable
}

// syncStore is testStore with the barrier visible (the syncer interface).
type syncStore struct{ *testStore }

func (s syncStore) Sync(ctx context.Context, mailbox string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.syncs++
	if s.failSync != nil {
		if err := s.failSync(s.syncs); err != nil {
			return err
		}
	}
	s.syncedAt = s.seq
	return ctx.Err()
}

// items lists every item of the test mailbox with its content.
func items(t *testing.T, st sdk.Store) map[string]storedItem {
	t.Helper()
	out := map[string]storedItem{}
	for _, it := range storetest.List(t, st, testMailbox) {
		out[it.UID] = storedItem{Item: it, data: storetest.Fetch(t, st, testMailbox, it.UID)}
	}
	return out
}

type storedItem struct {
	sdk.Item
	data []byte
}

// checkExactlyOnce checks that the store holds each of want (by UIDL)
// exactly once, in wire form, under the expected SourceID, with no staged
// item left; tags maps UIDLs whose tag is not unread.
func checkExactlyOnce(t *testing.T, st sdk.Store, addr string, want map[string][]byte, tags map[string]sdk.Tag) {
	t.Helper()
	prefix, _ := (Account{Addr: addr, User: testUser}).SourceIDPrefix()
	got := map[string][]storedItem{}
	for _, it := range items(t, st) {
		if it.Tag == sdk.TagStaged {
			t.Errorf("staged item left: %s %s", it.UID, it.SourceID)
		}
		got[it.SourceID] = append(got[it.SourceID], it)
	}
	var missing []string
	for uidl, raw := range want {
		its := got[prefix+uidl]
		switch {
		case len(its) == 0:
			missing = append(missing, uidl)
			continue
		case len(its) > 1:
			t.Errorf("%s stored %d times", uidl, len(its))
		}
		if w := mailgen.WireForm(raw); !bytes.Equal(its[0].data, w) {
			t.Errorf("%s: stored %d octets differ from the %d sent", uidl, len(its[0].data), len(w))
		}
		wantTag := sdk.TagUnread
		if tg, ok := tags[uidl]; ok {
			wantTag = tg
		}
		if its[0].Tag != wantTag {
			t.Errorf("%s: tag %s, want %s", uidl, its[0].Tag, wantTag)
		}
		delete(got, prefix+uidl)
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("%d messages missing: %v", len(missing), missing)
	}
	for sid, its := range got {
		if sid != "" && len(its) > 0 {
			t.Errorf("unexpected item %s with SourceID %q", its[0].UID, sid)
		}
	}
}

// opts returns Options for a sync of the test account into st.
func testOptions(t *testing.T, rs *remoteServer, st sdk.Store) Options {
	o := Options{
		Account: Account{Addr: rs.addr, User: testUser, Secret: testPass},
		Store:   st,
		Mailbox: testMailbox,
		Timeout: 10 * time.Second,
	}
	if testing.Verbose() {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return o
}

// runOK runs and fails the test on error.
func runOK(t *testing.T, o Options) Summary {
	t.Helper()
	sum, err := Run(context.Background(), o)
	if err != nil {
		t.Fatalf("Run: %v (summary %+v)", err, sum)
	}
	return sum
}

func wantKind(t *testing.T, err error, k Kind) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want a %v error", k)
	}
	if got := KindOf(err); got != k {
		t.Fatalf("err = %v (kind %v), want kind %v", err, got, k)
	}
}

var errInjected = errors.New("injected store failure")
