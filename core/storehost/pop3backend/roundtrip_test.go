package pop3backend_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/izyware/izypop3/core/auth"
	"github.com/izyware/izypop3/core/pop3"
	"github.com/izyware/izypop3/core/pop3/pop3client"
	"github.com/izyware/izypop3/core/pop3/pop3server"
	"github.com/izyware/izypop3/core/storehost/pop3backend"
	"github.com/izyware/izypop3/internal/testkit"
	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/storetest/memstore"
)

// serve runs the real server over store through the adapter, logins
// checked against the password "pw", and returns its address.
func serve(t testing.TB, store sdk.Store, opts pop3backend.Options) string {
	t.Helper()
	opts.Auth = password(t)
	return serveWith(t, store, opts, pop3server.Options{AuthFailDelay: -1})
}

// serveWith runs the real server with options so over store through the
// adapter made with opts, on a loopback port, and returns its address; the
// server is closed when the test ends.
func serveWith(t testing.TB, store sdk.Store, opts pop3backend.Options, so pop3server.Options) string {
	t.Helper()
	b, err := pop3backend.New(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	so.Backend = b
	srv := pop3server.New(&so)
	l := testkit.Listen(t)
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(l) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return l.Addr().String()
}

// password is the credential source "pw".
func password(t testing.TB) auth.Authenticator {
	t.Helper()
	pw, err := auth.NewPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	return pw
}

// mail returns the sdk's reference store with count unread messages in
// each of the mailboxes alice and bob, of 1000..30000 octets (size, when
// not 0, for every one), each different, with CRLF and bare LF lines and
// lines that need dot-stuffing.
func mail(t testing.TB, count, size int) *memstore.Store {
	t.Helper()
	s := memstore.New()
	for _, box := range []string{"alice", "bob"} {
		for i := range count {
			n := size
			if n == 0 {
				n = 1000 + (i*7919)%29001
			}
			head := fmt.Sprintf("From: test@example.org\r\nSubject: %s %d\r\n\r\n", box, i)
			lines := fmt.Sprintf("line of message %d of %s, with some more text\r\n.a line that is stuffed\r\nbare LF line\n", i, box)
			msg := head + strings.Repeat(lines, n/len(lines)+1)
			if _, err := s.Put(context.Background(), box, sdk.PutOptions{}, strings.NewReader(msg[:n])); err != nil {
				t.Fatal(err)
			}
		}
	}
	return s
}

func tags(t *testing.T, s sdk.Store, mailbox string) map[string]sdk.Tag {
	out := map[string]sdk.Tag{}
	for it, err := range s.List(context.Background(), mailbox, sdk.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		out[it.UID] = it.Tag
	}
	return out
}

func dial(t *testing.T, addr, user string) *pop3client.Client {
	t.Helper()
	c, err := pop3client.Dial(addr, &pop3client.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, "pw"); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRoundTripConsumeOnRetrQuit(t *testing.T) {
	s := mail(t, 4, 0)
	addr := serve(t, s, pop3backend.Options{ConsumeOnRetr: true, OnDele: pop3backend.OnDeleDelete})
	c := dial(t, addr, "alice")
	uids, err := c.Uidl()
	if err != nil {
		t.Fatal(err)
	}
	list, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Retr(2)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, r)
	if err != nil || n != list[1].Size {
		t.Fatalf("RETR 2: %d octets (LIST %d), %v", n, list[1].Size, err)
	}
	if err := c.Dele(3); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	got := tags(t, s, "alice")
	want := map[string]sdk.Tag{uids[0].UID: sdk.TagUnread, uids[1].UID: sdk.TagArchive, uids[3].UID: sdk.TagUnread}
	if len(got) != 3 {
		t.Fatalf("store after QUIT: %v (message 3 should be deleted)", got)
	}
	for uid, tag := range want {
		if got[uid] != tag {
			t.Errorf("%s: tag %q, want %q", uid, got[uid], tag)
		}
	}
}

func TestRoundTripDropAfterRetr(t *testing.T) {
	for _, consume := range []bool{false, true} {
		s := mail(t, 3, 0)
		addr := serve(t, s, pop3backend.Options{ConsumeOnRetr: consume})
		c := dial(t, addr, "bob")
		uid, err := c.UidlOne(1)
		if err != nil {
			t.Fatal(err)
		}
		r, err := c.Retr(1)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, r)
		c.Dele(2)
		c.Close() // no QUIT

		want := sdk.TagUnread
		if consume {
			want = sdk.TagPOP3Failed
		}
		// The server applies Abandon after it sees the connection end;
		// a new login succeeds only once the maildrop is released, which
		// is after that.
		var c2 *pop3client.Client
		for i := 0; ; i++ {
			c2, err = pop3client.Dial(addr, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = c2.Login("bob", "pw")
			if err == nil {
				break
			}
			c2.Close()
			if !errors.Is(err, &pop3.Error{Code: pop3.CodeInUse}) || i > 100 {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		c2.Quit()
		got := tags(t, s, "bob")
		for u, tag := range got {
			w := sdk.TagUnread
			if u == uid.UID {
				w = want
			}
			if tag != w {
				t.Errorf("consume=%v: %s tagged %q, want %q", consume, u, tag, w)
			}
		}
	}
}
