package pop3backend

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/izyware/izypop3/core/auth"
	"github.com/izyware/izypop3/core/pop3"
	"github.com/izyware/izypop3/core/pop3/pop3server"
	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/pluginhost"
	"github.com/izyware/izypop3/sdk/storetest/memstore"
)

var ctx = context.Background()

func password(t *testing.T) *auth.Password {
	t.Helper()
	p, err := auth.NewPassword("12345")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newBackendT(t *testing.T, store sdk.Store, opts Options) pop3server.Backend {
	t.Helper()
	if opts.Auth == nil {
		if _, ok := store.(sdk.Authenticator); !ok {
			opts.Auth = password(t)
		}
	}
	b, err := New(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func login(t *testing.T, b pop3server.Backend, user string) pop3server.Mailbox {
	t.Helper()
	mb, err := b.Login(ctx, pop3server.LoginRequest{User: user, Pass: "12345", Remote: "127.0.0.1:1"})
	if err != nil {
		t.Fatalf("Login(%s): %v", user, err)
	}
	t.Cleanup(func() { mb.Close() })
	return mb
}

func messages(t *testing.T, mb pop3server.Mailbox) []pop3server.Message {
	t.Helper()
	msgs, err := mb.Messages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var pe *pop3.Error
	if !errors.As(err, &pe) || pe.Code != code {
		t.Fatalf("err = %v, want -ERR [%s]", err, code)
	}
}

func TestNewOptions(t *testing.T) {
	s := newMemStore()
	for _, tt := range []struct {
		name string
		opts Options
		want string
	}{
		{"no auth", Options{}, "no authenticator"},
		{"bad tag", Options{Auth: password(t), MaildropTags: []sdk.Tag{"new"}}, `MaildropTags "new"`},
		{"bad on-dele", Options{Auth: password(t), OnDele: "shred"}, `OnDele "shred"`},
	} {
		if _, err := New(s, tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
	if _, err := New(nil, Options{Auth: password(t)}); err == nil {
		t.Error("New(nil store) succeeded")
	}

	// Options are copied: changing the caller's slice later has no effect.
	tags := []sdk.Tag{sdk.TagUnread}
	b := newBackendT(t, s, Options{MaildropTags: tags})
	tags[0] = sdk.TagArchive
	if got := b.(apopBackend).opts.MaildropTags; got[0] != sdk.TagUnread {
		t.Errorf("MaildropTags not copied: %v", got)
	}
}

func TestLoginErrors(t *testing.T) {
	s := authStore{newMemStore()}
	b := newBackendT(t, s, Options{}) // the store authenticates
	if _, ok := b.(pop3server.APOPBackend); ok {
		t.Error("a store authenticator must not enable APOP")
	}
	_, err := b.Login(ctx, pop3server.LoginRequest{User: "store-user", Pass: "bad"})
	wantCode(t, err, pop3.CodeAuth)
	if strings.Contains(err.Error(), "no such user") {
		t.Errorf("store text reaches the client: %v", err)
	}

	_, err = b.Login(ctx, pop3server.LoginRequest{User: "down", Pass: "x"})
	var pe *pop3.Error
	if errors.As(err, &pe) || !errors.Is(err, sdk.ErrUnavailable) {
		t.Errorf("store failure = %v, want a plain error wrapping ErrUnavailable", err)
	}

	mb, err := b.Login(ctx, pop3server.LoginRequest{User: "store-user", Pass: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	mb.Close()

	// With Options.Auth, that wins over the store's.
	b = newBackendT(t, s, Options{Auth: password(t)})
	if _, err := b.Login(ctx, pop3server.LoginRequest{User: "store-user", Pass: "pw"}); err == nil {
		t.Error("store credentials accepted although Options.Auth is set")
	}
	_, err = b.Login(ctx, pop3server.LoginRequest{User: "../x", Pass: "12345"})
	wantCode(t, err, pop3.CodeAuth)
}

func TestSnapshot(t *testing.T) {
	s := newMemStore()
	u1 := s.add("alice", "Subject: 1\r\n\r\none\r\n", sdk.TagUnread)
	s.add("alice", "Subject: 2\r\n\r\narchived\r\n", sdk.TagArchive)
	u3 := s.add("alice", "Subject: 3\n\nbare LF, no final newline", sdk.TagUnread)
	u4 := s.add("alice", "", sdk.TagUnread)
	s.add("bob", "Subject: bob\r\n\r\n", sdk.TagUnread)
	s.addRaw("alice", sdk.Item{UID: "bad uid", Size: 1, WireSize: 3, Tag: sdk.TagUnread})
	s.addRaw("alice", sdk.Item{UID: u1, Size: 1, WireSize: 3, Tag: sdk.TagUnread})

	b := newBackendT(t, s, Options{})
	mb := login(t, b, "alice")
	want := []pop3server.Message{
		{UID: u1, Size: 19, WireForm: true},
		{UID: u3, Size: int64(len("Subject: 3\r\n\r\nbare LF, no final newline\r\n"))},
		{UID: u4, Size: 0},
	}
	if got := messages(t, mb); !reflect.DeepEqual(got, want) {
		t.Errorf("Messages = %v, want %v", got, want)
	}
	if s.fetches != 0 {
		t.Errorf("%d fetches although every WireSize is known", s.fetches)
	}
	mb.Close()

	// WireSize fallback: the store reports 0 and the backend reads.
	s.noWireSize = true
	mb = login(t, b, "alice")
	if got := messages(t, mb); !reflect.DeepEqual(got, want) {
		t.Errorf("Messages with WireSize 0 = %v, want %v", got, want)
	}
	if s.fetches != 2 { // u1 and u3; the empty u4 needs no read
		t.Errorf("fetches = %d, want 2", s.fetches)
	}
	mb.Close()

	// Other maildrop tags.
	b = newBackendT(t, s, Options{MaildropTags: []sdk.Tag{sdk.TagArchive, sdk.TagUnread}})
	mb = login(t, b, "alice")
	if got := messages(t, mb); len(got) != 4 {
		t.Errorf("unread+archive maildrop = %v", got)
	}
}

// session drives a mailbox like the server does: Messages, Open the
// retrieved ones, then Update or Abandon, then Close.
func session(t *testing.T, b pop3server.Backend, deleted, retrieved []string, quit bool) {
	t.Helper()
	mb := login(t, b, "alice")
	num := make(map[string]int)
	for i, m := range messages(t, mb) {
		num[m.UID] = i + 1
	}
	for _, uid := range retrieved {
		rc, err := mb.Open(ctx, num[uid])
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, rc)
		rc.Close()
	}
	var err error
	if quit {
		err = mb.Update(ctx, deleted, retrieved)
	} else {
		err = mb.Abandon(ctx, retrieved)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := mb.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestUpdateAndAbandon(t *testing.T) {
	tests := []struct {
		name      string
		opts      Options
		deleted   []string // indexes into the three UIDs, as "0", "1", "2"
		retrieved []string
		quit      bool
		want      string // tags after the session
		calls     string
	}{
		{"quit archives dele", Options{}, []string{"1"}, []string{"0"}, true,
			"0:unread 1:archive 2:unread", "[settag archive 1]"},
		{"quit deletes dele", Options{OnDele: OnDeleDelete}, []string{"0", "2"}, nil, true,
			"1:unread", "[delete 0,2]"},
		{"quit without dele", Options{}, nil, []string{"0", "1"}, true,
			"0:unread 1:unread 2:unread", "[]"},
		{"abandon changes nothing", Options{}, nil, []string{"0", "1"}, false,
			"0:unread 1:unread 2:unread", "[]"},
		{"consume: quit archives retrieved", Options{ConsumeOnRetr: true}, []string{"2"}, []string{"0", "2"}, true,
			"0:archive 1:unread 2:archive", "[settag archive 2,0]"},
		{"consume+delete: quit", Options{ConsumeOnRetr: true, OnDele: OnDeleDelete}, []string{"2"}, []string{"0", "2"}, true,
			"0:archive 1:unread", "[settag archive 0 delete 2]"},
		{"consume: abandon fails retrieved", Options{ConsumeOnRetr: true}, []string{"1"}, []string{"0"}, false,
			"0:pop3failed 1:unread 2:unread", "[settag pop3failed 0]"},
		{"consume: abandon before any RETR", Options{ConsumeOnRetr: true}, nil, nil, false,
			"0:unread 1:unread 2:unread", "[]"},
		{"dry run quit", Options{DryRun: true, ConsumeOnRetr: true}, []string{"0"}, []string{"1"}, true,
			"0:unread 1:unread 2:unread", "[]"},
		{"dry run delete", Options{DryRun: true, OnDele: OnDeleDelete}, []string{"0", "1", "2"}, nil, true,
			"0:unread 1:unread 2:unread", "[]"},
		{"dry run abandon", Options{DryRun: true, ConsumeOnRetr: true}, nil, []string{"1"}, false,
			"0:unread 1:unread 2:unread", "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newMemStore()
			var uids []string
			for i := range 3 {
				uids = append(uids, s.add("alice", fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n", i), sdk.TagUnread))
			}
			name := func(idx []string) []string {
				var out []string
				for _, i := range idx {
					out = append(out, uids[i[0]-'0'])
				}
				return out
			}
			b := newBackendT(t, s, tt.opts)
			session(t, b, name(tt.deleted), name(tt.retrieved), tt.quit)
			r := strings.NewReplacer(uids[0], "0", uids[1], "1", uids[2], "2")
			if got := r.Replace(s.tags("alice")); got != tt.want {
				t.Errorf("tags = %q, want %q", got, tt.want)
			}
			if got := r.Replace(fmt.Sprint(s.changes())); got != tt.calls {
				t.Errorf("store calls = %s, want %s", got, tt.calls)
			}
		})
	}
}

func TestUpdateBatches(t *testing.T) {
	s := newMemStore()
	var uids []string
	for range updateBatch + 5 {
		uids = append(uids, s.add("alice", "x\r\n", sdk.TagUnread))
	}
	b := newBackendT(t, s, Options{})
	session(t, b, uids, nil, true)
	calls := s.changes()
	if len(calls) != 2 {
		t.Fatalf("%d SetTag calls, want 2", len(calls))
	}
	if strings.Contains(s.tags("alice"), ":unread") {
		t.Error("some messages were not archived")
	}
}

func TestInUse(t *testing.T) {
	// In-process lock, store without a Locker.
	b := newBackendT(t, newMemStore(), Options{})
	mb := login(t, b, "alice")
	_, err := b.Login(ctx, pop3server.LoginRequest{User: "alice", Pass: "12345"})
	wantCode(t, err, pop3.CodeInUse)
	other := login(t, b, "bob") // other mailboxes are free
	other.Close()
	mb.Close()
	mb.Close() // a second Close is harmless
	login(t, b, "alice").Close()

	// The store's Locker: a lock held elsewhere (another server process).
	ls := &lockingStore{memStore: newMemStore()}
	if _, err := ls.Lock(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	b = newBackendT(t, ls, Options{})
	_, err = b.Login(ctx, pop3server.LoginRequest{User: "alice", Pass: "12345"})
	wantCode(t, err, pop3.CodeInUse)
	if strings.Contains(err.Error(), "secret detail") {
		t.Errorf("store text reaches the client: %v", err)
	}
	// The failed attempt released the in-process lock.
	ls.Unlock(ctx, "alice", "tok-alice")
	mb = login(t, b, "alice")
	if ls.held["alice"] == "" {
		t.Error("store lock not taken")
	}
	_, err = b.Login(ctx, pop3server.LoginRequest{User: "alice", Pass: "12345"})
	wantCode(t, err, pop3.CodeInUse)
	if err := mb.Close(); err != nil {
		t.Fatal(err)
	}
	if _, held := ls.held["alice"]; held || ls.unlocks != 2 {
		t.Errorf("after Close: held %v, unlocks %d", ls.held, ls.unlocks)
	}

	// A lock failure that is not ErrInUse is a plain error.
	ls.lockErr = fmt.Errorf("%w: lock table gone", sdk.ErrUnavailable)
	_, err = b.Login(ctx, pop3server.LoginRequest{User: "alice", Pass: "12345"})
	var pe *pop3.Error
	if errors.As(err, &pe) || !errors.Is(err, sdk.ErrUnavailable) {
		t.Errorf("lock failure = %v", err)
	}
	ls.lockErr = nil
	login(t, b, "alice").Close() // and it released the in-process lock
}

func TestAPOP(t *testing.T) {
	b := newBackendT(t, newMemStore(), Options{Auth: password(t)})
	ab, ok := b.(pop3server.APOPBackend)
	if !ok || !ab.APOPEnabled() {
		t.Fatal("password mode does not offer APOP")
	}
	ts := "<1.2@test>"
	sum := md5.Sum([]byte(ts + "12345"))
	digest := hex.EncodeToString(sum[:])
	mb, err := ab.LoginAPOP(ctx, "alice", ts, digest, "r")
	if err != nil {
		t.Fatal(err)
	}
	mb.Close()
	_, err = ab.LoginAPOP(ctx, "alice", ts, strings.Repeat("0", 32), "r")
	wantCode(t, err, pop3.CodeAuth)
	_, err = ab.LoginAPOP(ctx, "a/b", ts, digest, "r")
	wantCode(t, err, pop3.CodeAuth)

	h, err := auth.HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	uf, err := auth.ParseUsersFile(strings.NewReader("alice:" + h))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := newBackendT(t, newMemStore(), Options{Auth: uf}).(pop3server.APOPBackend); ok {
		t.Error("a users file must not offer APOP")
	}
}

func TestOpen(t *testing.T) {
	s := newMemStore()
	const body = "Subject: x\r\n\r\nbody\r\n"
	s.add("alice", body, sdk.TagUnread)
	gone := s.add("alice", body, sdk.TagUnread)
	mb := login(t, newBackendT(t, s, Options{}), "alice")
	messages(t, mb)
	read := func(rc io.ReadCloser, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := read(mb.Open(ctx, 1)); got != body {
		t.Errorf("Open = %q", got)
	}
	// Without a TopFetcher store, TOP is one Fetch.
	f0 := s.fetches
	if got := read(mb.(pop3server.TopOpener).OpenTop(ctx, 1, 0)); got != body || s.fetches != f0+1 {
		t.Errorf("OpenTop = %q after %d Fetch calls", got, s.fetches-f0)
	}
	for _, n := range []int{0, 3} {
		if _, err := mb.Open(ctx, n); err == nil {
			t.Errorf("Open(%d) of a maildrop of 2 succeeded", n)
		}
	}
	if _, err := s.ref.Delete(ctx, "alice", []string{gone}); err != nil {
		t.Fatal(err)
	}
	_, err := mb.Open(ctx, 2)
	var pe *pop3.Error
	if !errors.As(err, &pe) || pe.Code != "" || strings.Contains(pe.Text, gone) {
		t.Errorf("vanished message: %v", err)
	}
	s.fetchErr = fmt.Errorf("%w: disk on fire", sdk.ErrUnavailable)
	_, err = mb.Open(ctx, 1)
	if errors.As(err, &pe) || !errors.Is(err, sdk.ErrUnavailable) {
		t.Errorf("store failure = %v", err)
	}

	ts := &topStore{memStore: newMemStore()}
	ts.add("alice", "Subject: y\r\n\r\nbody\r\n", sdk.TagUnread)
	mb = login(t, newBackendT(t, ts, Options{}), "alice")
	messages(t, mb)
	read(mb.(pop3server.TopOpener).OpenTop(ctx, 1, 0))
	if ts.tops != 1 || ts.fetches != 1 { // topStore's FetchTop is a Fetch
		t.Errorf("FetchTop calls = %d, Fetch calls %d, want 1 and 1", ts.tops, ts.fetches)
	}
}

// topCounter is a plugin client that counts FetchTop calls.
type topCounter struct {
	*pluginhost.Remote
	tops int
}

func (c *topCounter) FetchTop(ctx context.Context, mailbox, uid string, lines int) (io.ReadCloser, error) {
	c.tops++
	return c.Remote.FetchTop(ctx, mailbox, uid, lines)
}

// BindLock keeps the counting for the store a session binds to its lock.
func (c *topCounter) BindLock(string, string) pluginhost.Full { return c }

// TestCapabilitiesByTypeAssertion: the backend uses the optional
// interfaces the store value implements and nothing else. The same store,
// seen over gRPC and narrowed to fewer capabilities than it has, gets TOP
// through Fetch and no store lock; narrowed to what it advertises, both.
func TestCapabilitiesByTypeAssertion(t *testing.T) {
	ms := memstore.New()
	if _, err := ms.Put(ctx, "alice", sdk.PutOptions{}, strings.NewReader("Subject: x\r\n\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	r, stop, err := pluginhost.ServeInProcess(ms, pluginhost.Info{Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop() })
	info, err := r.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tc := &topCounter{Remote: r}
	top := func(mb pop3server.Mailbox) {
		t.Helper()
		rc, err := mb.(pop3server.TopOpener).OpenTop(ctx, 1, 0)
		if err != nil {
			t.Fatalf("OpenTop: %v", err)
		}
		rc.Close()
	}

	none := pluginhost.Narrow(tc, nil)
	if _, err := New(none, Options{}); err == nil || !strings.Contains(err.Error(), "no authenticator") {
		t.Errorf("store without the authenticator capability: %v", err)
	}
	mb := login(t, newBackendT(t, none, Options{Auth: password(t)}), "alice")
	messages(t, mb)
	top(mb)
	if tc.tops != 0 {
		t.Error("FetchTop used although the store value has no TopFetcher")
	}
	tok, err := ms.Lock(ctx, "alice")
	if err != nil {
		t.Errorf("the store lock was taken although the store value has no Locker: %v", err)
	} else {
		ms.Unlock(ctx, "alice", tok)
	}
	mb.Close()

	all := pluginhost.Narrow(tc, info.Capabilities)
	mb = login(t, newBackendT(t, all, Options{Auth: password(t)}), "alice")
	messages(t, mb)
	top(mb)
	if tc.tops != 1 {
		t.Errorf("%d FetchTop calls although the store value is a TopFetcher, want 1", tc.tops)
	}
	if _, err := ms.Lock(ctx, "alice"); !errors.Is(err, sdk.ErrInUse) {
		t.Errorf("the store lock is not held by the session: Lock = %v", err)
	}
	mb.Close()
	if tok, err := ms.Lock(ctx, "alice"); err != nil {
		t.Errorf("the store lock is still held after Close: %v", err)
	} else {
		ms.Unlock(ctx, "alice", tok)
	}
}

// TestValidate: Validate refuses what New refuses, with an *OptionError
// naming the option, and needs no store.
func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		opts   Options
		option string
	}{
		{Options{OnDele: "shred"}, "OnDele"},
		{Options{MaildropTags: []sdk.Tag{sdk.TagUnread, "abc"}}, "MaildropTags"},
	} {
		err := tt.opts.Validate()
		var oe *OptionError
		if !errors.As(err, &oe) || oe.Option != tt.option {
			t.Errorf("Validate(%+v) = %v, want an OptionError for %s", tt.opts, err, tt.option)
		}
		if _, err := New(newMemStore(), Options{Auth: password(t), OnDele: tt.opts.OnDele, MaildropTags: tt.opts.MaildropTags}); !errors.As(err, &oe) {
			t.Errorf("New with %+v: %v, want the OptionError", tt.opts, err)
		}
	}
	if err := (Options{OnDele: OnDeleDelete, MaildropTags: sdk.Tags}).Validate(); err != nil {
		t.Errorf("Validate of good options: %v", err)
	}
}
