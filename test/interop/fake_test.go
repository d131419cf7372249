package interop

import (
	"bytes"
	"context"
	"strconv"
	"testing"

	"github.com/izyware/izypop3/internal/testkit"
	"github.com/izyware/izypop3/plugins/fake/fakestore"
	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/storetest"
)

// fakeConfig is the fake store's configuration in these tests: few
// messages, sizes from a few hundred octets to ~60 KB.
var fakeConfig = map[string]string{
	"count":   "20",
	"minsize": "300",
	"maxsize": "60000",
	"seed":    "7",
}

// fakeArgs are the same settings as izypop3 flags.
func fakeArgs() []string {
	args := []string{"--modhandler", "fake"}
	for _, k := range []string{"count", "minsize", "maxsize", "seed"} {
		args = append(args, "--mimestore."+k+"="+fakeConfig[k])
	}
	return args
}

// fakeExpected computes, in-process, the maildrop the fake store gives
// mailbox: its unread items in List order, each with the wire form of its
// octets. It checks the maildrop holds lines starting with "." so that
// byte-stuffing is exercised.
func fakeExpected(t *testing.T, mailbox string) []expectedMsg {
	t.Helper()
	ctx := context.Background()
	st := fakestore.New()
	if err := st.Configure(ctx, fakeConfig); err != nil {
		t.Fatal(err)
	}
	var out []expectedMsg
	dots := 0
	for _, it := range storetest.List(t, st, mailbox, sdk.TagUnread) {
		raw := storetest.Fetch(t, st, mailbox, it.UID)
		if int64(len(raw)) != it.Size {
			t.Fatalf("fake item %s: Size %d, Fetch gave %d octets", it.UID, it.Size, len(raw))
		}
		w := testkit.WireForm(raw)
		if it.WireSize != 0 && it.WireSize != int64(len(w)) {
			t.Fatalf("fake item %s: WireSize %d, wire form has %d octets", it.UID, it.WireSize, len(w))
		}
		if bytes.HasPrefix(w, []byte(".")) || bytes.Contains(w, []byte("\r\n.")) {
			dots++
		}
		out = append(out, expectedMsg{UID: it.UID, Wire: w, ListSize: int64(len(w))})
	}
	if n, _ := strconv.Atoi(fakeConfig["count"]); len(out) != n {
		t.Fatalf("fake store lists %d unread items, want %d", len(out), n)
	}
	if dots == 0 {
		t.Fatalf("no fake message has a line starting with \".\": byte-stuffing would go untested; change fakeConfig")
	}
	t.Logf("fake maildrop: %d messages, %d with lines starting with \".\"", len(out), dots)
	return out
}

// fakeTarget starts izypop3 with the fake store (and extra flags) and
// returns it with the expected maildrop of mailbox.
func fakeTarget(t *testing.T, mailbox string, extra ...string) target {
	needBinary(t, "izypop3-store-fake")
	exp := fakeExpected(t, mailbox)
	srv := startIzypop3(t, append(fakeArgs(), extra...)...)
	return target{Name: "izypop3-fake", Port: srv.Port, User: mailbox, Pass: testPassword,
		Msgs: exp, Ordered: true}
}

func TestFakePeers(t *testing.T) {
	eachPeer(t, func(t *testing.T, peer string) target { return fakeTarget(t, "fake"+peer) })
}

// uidsExcept returns the UIDs of msgs without message numbers skip (1-based).
func uidsExcept(msgs []expectedMsg, skip ...int) []string {
	var out []string
next:
	for i, m := range msgs {
		for _, s := range skip {
			if i+1 == s {
				continue next
			}
		}
		out = append(out, m.UID)
	}
	return out
}

// TestFakeDeleArchive: DELE 2,5,7 + QUIT (default --on-dele archive, and
// explicitly); the next session of the same server lists the others with
// the same UIDs in the same order.
func TestFakeDeleArchive(t *testing.T) {
	for _, mode := range []struct {
		name string
		args []string
	}{
		{"default", nil},
		{"archive", []string{"--on-dele", "archive"}},
		{"delete", []string{"--on-dele", "delete"}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			tg := fakeTarget(t, "fakedele", mode.args...)
			r := runPoplib(t, tg, "--no-retr", "--dele", "2,5,7")
			checkUIDL(t, r, uidsExcept(tg.Msgs))
			r = runPoplib(t, tg, "--no-retr")
			checkUIDL(t, r, uidsExcept(tg.Msgs, 2, 5, 7))
		})
	}
}

// TestFakeNoCommit: a session that ends without QUIT, and a DELE+QUIT with
// --commit=false, change nothing.
func TestFakeNoCommit(t *testing.T) {
	t.Run("no-quit", func(t *testing.T) {
		tg := fakeTarget(t, "fakenoquit")
		runPoplib(t, tg, "--no-retr", "--dele", "1,2", "--no-quit")
		checkUIDL(t, runPoplib(t, tg, "--no-retr"), uidsExcept(tg.Msgs))
	})
	t.Run("commit=false", func(t *testing.T) {
		tg := fakeTarget(t, "fakedry", "--commit=false")
		runPoplib(t, tg, "--no-retr", "--dele", "1,2")
		checkUIDL(t, runPoplib(t, tg, "--no-retr"), uidsExcept(tg.Msgs))
	})
}

// TestFakeConsumeOnRetr: with --consume-on-retr (the seed's queue mode) a
// session that RETRs every message and QUITs leaves the maildrop empty
// (archived), and so does one that RETRs and drops the connection
// (pop3failed); a session that only lists consumes nothing.
func TestFakeConsumeOnRetr(t *testing.T) {
	for _, mode := range []struct {
		name string
		args []string
	}{
		{"quit", nil},
		{"no-quit", []string{"--no-quit"}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			tg := fakeTarget(t, "fakeconsume", "--consume-on-retr")
			checkUIDL(t, runPoplib(t, tg, "--no-retr"), uidsExcept(tg.Msgs))
			r := runPoplib(t, tg, mode.args...)
			if len(r.Retr) != len(tg.Msgs) {
				t.Fatalf("retrieved %d messages, want %d", len(r.Retr), len(tg.Msgs))
			}
			checkUIDL(t, runPoplib(t, tg, "--no-retr"), nil)
		})
	}
}
