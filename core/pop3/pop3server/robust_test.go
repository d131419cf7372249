package pop3server_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/izyware/izypop3/core/pop3"
	"github.com/izyware/izypop3/core/pop3/pop3server"
	"github.com/izyware/izypop3/core/pop3/pop3server/memback"
	"github.com/izyware/izypop3/core/pop3/wire"
	"github.com/izyware/izypop3/internal/testkit"
)

// TestCommandLineLength: 255 octets (RFC 2449 §4) are accepted, longer
// lines refused with -ERR, and the session goes on.
func TestCommandLineLength(t *testing.T) {
	b := memback.New()
	name := strings.Repeat("u", wire.MaxCommandLine-len("USER "))
	b.AddUser(name, "pw")
	_, addr := startServer(t, testOptions(b))
	c := dial(t, addr)
	c.line()
	line255 := "USER " + name
	if len(line255) != 255 {
		t.Fatalf("test line is %d octets", len(line255))
	}
	c.send(line255)
	c.expect("+OK send PASS")
	c.send("USER " + name + "x") // 256 octets
	c.expect("-ERR command line too long")
	c.send("USER " + strings.Repeat("z", 100000))
	c.expect("-ERR command line too long")
	c.send("USER "+name, "PASS pw")
	c.expect("+OK send PASS", "+OK maildrop has 0 messages (0 octets)")
}

// TestMaxLineLengthOption: a larger configured limit is honoured.
func TestMaxLineLengthOption(t *testing.T) {
	opts := testOptions(newBackend())
	opts.MaxLineLength = 1000
	_, addr := startServer(t, opts)
	c := dial(t, addr)
	c.line()
	c.send("USER " + strings.Repeat("a", 995))
	c.expect("+OK send PASS")
	c.send("USER " + strings.Repeat("a", 996))
	c.expect("-ERR command line too long")

	// A limit below the RFC 2449 minimum is raised to it.
	opts = testOptions(newBackend())
	opts.MaxLineLength = 10
	_, addr = startServer(t, opts)
	c = dial(t, addr)
	c.line()
	c.send("USER " + strings.Repeat("a", wire.MaxCommandLine-5))
	c.expect("+OK send PASS")
}

// TestMaxErrors: the session is closed after MaxErrors protocol errors.
func TestMaxErrors(t *testing.T) {
	opts := testOptions(newBackend())
	opts.MaxErrors = 3
	_, addr := startServer(t, opts)
	c := dial(t, addr)
	transcript(t, c, `
		S: +OK pop.test POP3 server ready
		C: FOO
		S: -ERR unknown command
		C: STAT
		S: -ERR command not valid in this state
		C: BAR
		S: -ERR unknown command
		S: -ERR too many errors, closing connection
		EOF
	`)
}

// TestMaxErrorsDefault: the default limit is DefaultMaxErrors.
func TestMaxErrorsDefault(t *testing.T) {
	_, addr := startServer(t, testOptions(newBackend()))
	c := dial(t, addr)
	c.line()
	for i := 0; i < pop3server.DefaultMaxErrors-1; i++ {
		c.send("FOO")
		c.expect("-ERR unknown command")
	}
	c.send("NOOPX")
	c.expect("-ERR unknown command", "-ERR too many errors, closing connection")
	c.expectEOF()
}

// TestAuthFailure: wrong credentials get -ERR [AUTH] after the configured
// delay, and USER must be sent again.
func TestAuthFailure(t *testing.T) {
	opts := testOptions(newBackend())
	opts.AuthFailDelay = 150 * time.Millisecond
	_, addr := startServer(t, opts)
	c := dial(t, addr)
	c.line()
	for _, user := range []string{"bob", "nobody"} {
		// The clock starts before the send: the server may begin its
		// delay before the client's write returns.
		start := time.Now()
		c.send("USER "+user, "PASS wrong")
		c.expect("+OK send PASS", "-ERR [AUTH] invalid user name or password")
		if d := time.Since(start); d < 150*time.Millisecond {
			t.Errorf("failed login for %s answered after %v, want >= 150ms", user, d)
		}
	}
	c.send("PASS secret")
	c.expect("-ERR USER first")
	c.send("USER bob", "PASS secret")
	c.expect("+OK send PASS", "+OK maildrop has 3 messages (101 octets)")
}

// TestAuthFailDelayDefault checks the documented default.
func TestAuthFailDelayDefault(t *testing.T) {
	if pop3server.DefaultAuthFailDelay != time.Second {
		t.Fatalf("DefaultAuthFailDelay = %v", pop3server.DefaultAuthFailDelay)
	}
	opts := testOptions(newBackend())
	opts.AuthFailDelay = 0 // default
	_, addr := startServer(t, opts)
	c := dial(t, addr)
	c.line()
	start := time.Now()
	c.send("USER bob", "PASS wrong")
	c.expect("+OK send PASS", "-ERR [AUTH] invalid user name or password")
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("default delay %v, want ~1s", d)
	}
}

// TestBackendErrorsStayOffTheWire: a store failure at login, listing,
// Open or Update answers -ERR [SYS/TEMP] without the store's text; a
// *pop3.Error passes as is.
func TestBackendErrorsStayOffTheWire(t *testing.T) {
	const secret = "db password is hunter2 at 10.0.0.7"
	var mode atomic.Value
	mode.Store("")
	b := newBackend()
	hb := &hookBackend{Backend: b}
	hb.login = func(ctx context.Context, req pop3server.LoginRequest) (pop3server.Mailbox, error) {
		switch mode.Load() {
		case "login":
			return nil, errors.New(secret)
		case "perm":
			return nil, &pop3.Error{Code: pop3.CodeSysPerm, Text: "account disabled"}
		}
		mb, err := b.Login(ctx, req)
		if err != nil {
			return nil, err
		}
		return &hookMailbox{
			Mailbox: mb,
			messages: func(ctx context.Context) ([]pop3server.Message, error) {
				if mode.Load() == "messages" {
					return nil, errors.New(secret)
				}
				return mb.Messages(ctx)
			},
			open: func(ctx context.Context, n int) (io.ReadCloser, error) {
				switch n {
				case 1:
					return nil, errors.New(secret)
				case 2:
					return nil, &pop3.Error{Code: pop3.CodeSysPerm, Text: "message unreadable"}
				}
				return mb.Open(ctx, n)
			},
			update: func(ctx context.Context, deleted, retrieved []string) error {
				return errors.New(secret)
			},
		}, nil
	}
	var logs testkit.SyncBuffer
	opts := testOptions(hb)
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	_, addr := startServer(t, opts)

	mode.Store("login")
	c := dial(t, addr)
	c.line()
	c.send("USER bob", "PASS secret")
	c.expect("+OK send PASS", "-ERR [SYS/TEMP] temporary failure, try again later")

	mode.Store("perm")
	c.send("USER bob", "PASS secret")
	c.expect("+OK send PASS", "-ERR [SYS/PERM] account disabled")

	mode.Store("messages")
	c.send("USER bob", "PASS secret")
	c.expect("+OK send PASS", "-ERR [SYS/TEMP] temporary failure, try again later")
	if b.Locked("bob") {
		t.Error("maildrop still locked after a failed listing")
	}

	mode.Store("")
	c.send("USER bob", "PASS secret")
	c.expect("+OK send PASS", "+OK maildrop has 3 messages (101 octets)")
	c.send("RETR 1", "RETR 2", "NOOP", "DELE 3", "QUIT")
	c.expect(
		"-ERR [SYS/TEMP] temporary failure, try again later", // Open failed before +OK: session kept
		"-ERR [SYS/PERM] message unreadable",
		"+OK",
		"+OK message 3 deleted",
		"-ERR [SYS/TEMP] some deleted messages not removed",
	)
	c.expectEOF()
	if !strings.Contains(logs.String(), "hunter2") {
		t.Error("the store's error was not logged")
	}
}

// TestInUse: a second login to a locked maildrop gets -ERR [IN-USE] from
// the backend.
func TestInUse(t *testing.T) {
	b := newBackend()
	_, addr := startServer(t, testOptions(b))
	first := dial(t, addr)
	first.login()
	second := dial(t, addr)
	second.line()
	second.send("USER bob", "PASS secret")
	second.expect("+OK send PASS", "-ERR [IN-USE] maildrop already locked")
	first.send("QUIT")
	first.expect("+OK bye (3 messages left)")
	first.expectEOF()
	second.send("USER bob", "PASS secret")
	second.expect("+OK send PASS", "+OK maildrop has 3 messages (101 octets)")
}

// nonLocking is a backend that hands out the same maildrop twice.
type nonLocking struct{ b *memback.Backend }

func (n nonLocking) Login(ctx context.Context, req pop3server.LoginRequest) (pop3server.Mailbox, error) {
	mb, err := n.b.Login(ctx, req)
	if err != nil {
		return nil, err
	}
	// Release the backend's own lock at once: nothing excludes sessions.
	return &unlockedMailbox{Mailbox: mb}, mb.Close()
}

type unlockedMailbox struct{ pop3server.Mailbox }

func (u *unlockedMailbox) Close() error { return nil }

// TestInUseIsTheBackends: the server keeps no lock of its own (see
// Backend.Login): over a backend that does not lock, two sessions of one
// user both get the maildrop, and a wrong password still fails.
func TestInUseIsTheBackends(t *testing.T) {
	_, addr := startServer(t, testOptions(nonLocking{newBackend()}))
	first := dial(t, addr)
	first.login()
	second := dial(t, addr)
	second.line()
	second.send("USER bob", "PASS wrong")
	second.expect("+OK send PASS", "-ERR [AUTH] invalid user name or password")
	second.send("USER bob", "PASS secret")
	second.expect("+OK send PASS", "+OK maildrop has 3 messages (101 octets)")
	second.send("QUIT")
	second.expect("+OK bye (3 messages left)")
	first.send("QUIT")
	first.expect("+OK bye (3 messages left)")
	first.expectEOF()
}

// TestAuthTimeout: an idle connection before login is closed after
// AuthTimeout.
func TestAuthTimeout(t *testing.T) {
	opts := testOptions(newBackend())
	opts.AuthTimeout = 100 * time.Millisecond
	opts.IdleTimeout = time.Hour
	_, addr := startServer(t, opts)
	start := time.Now() // before the server's clock starts: d >= AuthTimeout
	c := dial(t, addr)
	c.line()
	c.expect("-ERR autologout: idle for too long")
	c.expectEOF()
	if d := time.Since(start); d < 100*time.Millisecond || d > 5*time.Second {
		t.Errorf("closed after %v", d)
	}
}

// TestIdleTimeout: after login the session ends after IdleTimeout, and the
// maildrop is abandoned, not updated.
func TestIdleTimeout(t *testing.T) {
	b := newBackend()
	opts := testOptions(b)
	opts.AuthTimeout = 50 * time.Millisecond
	opts.IdleTimeout = time.Second
	_, addr := startServer(t, opts)
	c := dial(t, addr)
	c.login()
	time.Sleep(150 * time.Millisecond) // longer than AuthTimeout: the longer timeout applies
	c.send("DELE 1", "RETR 2")
	c.expect("+OK message 1 deleted", "+OK 22 octets")
	c.body()
	c.expect("-ERR autologout: idle for too long")
	c.expectEOF()
	calls := waitCalls(t, b, 2)
	want := []memback.Call{{Op: "abandon", User: "bob", Retrieved: []string{"uid-2"}}, {Op: "close", User: "bob"}}
	if !reflect.DeepEqual(calls, want) {
		t.Errorf("calls = %+v, want %+v", calls, want)
	}
}

func TestIdleTimeoutDefault(t *testing.T) {
	// RFC 1939 §3: the autologout timer is at least 10 minutes.
	if pop3server.DefaultIdleTimeout < 10*time.Minute {
		t.Fatalf("DefaultIdleTimeout = %v", pop3server.DefaultIdleTimeout)
	}
}

// TestDropWithoutQuit: a connection that ends without QUIT changes
// nothing: Abandon with the retrieved UIDs, never Update.
func TestDropWithoutQuit(t *testing.T) {
	b := newBackend()
	_, addr := startServer(t, testOptions(b))
	c := dial(t, addr)
	c.login()
	c.send("RETR 1", "DELE 1", "DELE 2", "RETR 3", "RETR 1")
	c.expect("+OK 43 octets")
	c.body()
	c.expect("+OK message 1 deleted", "+OK message 2 deleted", "+OK 36 octets")
	c.body()
	c.expect("-ERR message 1 already deleted")
	c.conn.Close()
	calls := waitCalls(t, b, 2)
	want := []memback.Call{{Op: "abandon", User: "bob", Retrieved: []string{"uid-1", "uid-3"}}, {Op: "close", User: "bob"}}
	if !reflect.DeepEqual(calls, want) {
		t.Errorf("calls = %+v, want %+v", calls, want)
	}
	if got := b.UIDs("bob"); len(got) != 3 {
		t.Errorf("maildrop changed: %q", got)
	}
}

// TestPanicRecovered: a panicking backend closes that connection only.
func TestPanicRecovered(t *testing.T) {
	b := newBackend()
	hb := &hookBackend{Backend: b, wrap: func(mb pop3server.Mailbox) pop3server.Mailbox {
		return &hookMailbox{Mailbox: mb, open: func(ctx context.Context, n int) (io.ReadCloser, error) {
			if n == 2 {
				panic("store bug")
			}
			return mb.Open(ctx, n)
		}}
	}}
	var logs testkit.SyncBuffer
	opts := testOptions(hb)
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	_, addr := startServer(t, opts)
	c := dial(t, addr)
	c.login()
	c.send("RETR 2")
	c.expectEOF()
	calls := waitCalls(t, b, 2)
	if len(calls) != 2 || calls[0].Op != "abandon" || calls[1].Op != "close" {
		t.Errorf("after panic calls = %+v, want abandon, close", calls)
	}
	if !strings.Contains(logs.String(), "store bug") {
		t.Error("panic not logged")
	}
	c2 := dial(t, addr)
	c2.login()
	c2.send("RETR 1")
	c2.expect("+OK 43 octets")
}

// failingReader returns some octets, then an error.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func (f *failingReader) Close() error { return nil }

// TestStoreFailsMidRetr: a read error after +OK closes the connection
// without the terminator; the message does not count as retrieved.
func TestStoreFailsMidRetr(t *testing.T) {
	b := newBackend()
	hb := &hookBackend{Backend: b, wrap: func(mb pop3server.Mailbox) pop3server.Mailbox {
		return &hookMailbox{Mailbox: mb, open: func(ctx context.Context, n int) (io.ReadCloser, error) {
			if n == 1 {
				return &failingReader{data: []byte("From: a\r\nSubject: one\r\n\r\nHel"), err: errors.New("plugin crashed")}, nil
			}
			return mb.Open(ctx, n)
		}}
	}}
	_, addr := startServer(t, testOptions(hb))
	c := dial(t, addr)
	c.login()
	c.send("RETR 2", "RETR 1")
	c.expect("+OK 22 octets")
	c.body()
	expectTruncated(t, c, "+OK 43 octets")
	calls := waitCalls(t, b, 2)
	want := []memback.Call{{Op: "abandon", User: "bob", Retrieved: []string{"uid-2"}}, {Op: "close", User: "bob"}}
	if !reflect.DeepEqual(calls, want) {
		t.Errorf("calls = %+v, want %+v", calls, want)
	}
}

// storeTimeoutSession logs in to a server with a StoreTimeout of 100 ms
// whose mailboxes open messages through open.
func storeTimeoutSession(t *testing.T, open func(ctx context.Context, n int, mb pop3server.Mailbox) (io.ReadCloser, error)) *client {
	t.Helper()
	hb := &hookBackend{Backend: newBackend(), wrap: func(mb pop3server.Mailbox) pop3server.Mailbox {
		return &hookMailbox{Mailbox: mb, open: func(ctx context.Context, n int) (io.ReadCloser, error) {
			return open(ctx, n, mb)
		}}
	}}
	opts := testOptions(hb)
	opts.StoreTimeout = 100 * time.Millisecond
	_, addr := startServer(t, opts)
	c := dial(t, addr)
	c.login()
	return c
}

// blockingReader blocks until its context is cancelled.
type blockingReader struct{ ctx context.Context }

func (r blockingReader) Read(p []byte) (int, error) {
	<-r.ctx.Done()
	return 0, r.ctx.Err()
}
func (r blockingReader) Close() error { return nil }

// TestStoreTimeout: an Open that hangs is cancelled after StoreTimeout and
// answered -ERR [SYS/TEMP]; a read that hangs mid-stream closes the
// connection.
func TestStoreTimeout(t *testing.T) {
	c := storeTimeoutSession(t, func(ctx context.Context, n int, mb pop3server.Mailbox) (io.ReadCloser, error) {
		switch n {
		case 1:
			<-ctx.Done()
			return nil, ctx.Err()
		case 2:
			return blockingReader{ctx}, nil
		}
		return mb.Open(ctx, n)
	})
	c.send("RETR 1")
	c.expect("-ERR [SYS/TEMP] temporary failure, try again later")
	c.send("RETR 3")
	c.expect("+OK 36 octets")
	c.body()
	c.send("RETR 2")
	expectTruncated(t, c, "+OK 22 octets")
}

// TestStoreTimeoutContext: RETRs share one store context until the
// watchdog fires; the next RETR gets a live one, and the end of the
// session cancels it.
func TestStoreTimeoutContext(t *testing.T) {
	var mu sync.Mutex
	ctxs := map[int]context.Context{}
	c := storeTimeoutSession(t, func(ctx context.Context, n int, mb pop3server.Mailbox) (io.ReadCloser, error) {
		mu.Lock()
		ctxs[n] = ctx
		mu.Unlock()
		if n == 1 {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return mb.Open(ctx, n)
	})
	c.send("RETR 2")
	c.expect("+OK 22 octets")
	c.body()
	c.send("RETR 1")
	c.expect("-ERR [SYS/TEMP] temporary failure, try again later")
	c.send("RETR 2")
	c.expect("+OK 22 octets")
	c.body()
	c.send("RETR 3")
	c.expect("+OK 36 octets")
	c.body()
	c.send("QUIT")
	c.expect("+OK bye (3 messages left)")
	mu.Lock()
	first, after, last := ctxs[1], ctxs[2], ctxs[3]
	mu.Unlock()
	if after == first || after != last {
		t.Errorf("contexts: RETR 1 %p, RETR 2 after it %p, RETR 3 %p; want one new context after the timeout", first, after, last)
	}
	select {
	case <-last.Done():
	case <-time.After(5 * time.Second):
		t.Error("the store context outlives the session")
	}
}

// slowReader returns its message one octet per Read, each after delay.
type slowReader struct {
	msg   []byte
	delay time.Duration
}

func (r *slowReader) Read(p []byte) (int, error) {
	if len(r.msg) == 0 {
		return 0, io.EOF
	}
	time.Sleep(r.delay)
	n := copy(p[:1], r.msg)
	r.msg = r.msg[n:]
	return n, nil
}
func (r *slowReader) Close() error { return nil }

// TestStoreTimeoutPerCall: StoreTimeout bounds each store call, not the
// command: an Open and then every Read taking most of it, together far
// longer, still deliver the message (RETR and TOP share one watchdog
// timer between the Open and the reads).
func TestStoreTimeoutPerCall(t *testing.T) {
	const timeout = 400 * time.Millisecond
	delay := timeout / 4
	b := newBackend()
	hb := &hookBackend{Backend: b, wrap: func(mb pop3server.Mailbox) pop3server.Mailbox {
		return &hookMailbox{Mailbox: mb, open: func(ctx context.Context, n int) (io.ReadCloser, error) {
			time.Sleep(delay)
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			return &slowReader{msg: []byte("ab\r\ncd\r\n"), delay: delay}, nil
		}}
	}}
	opts := testOptions(hb)
	opts.StoreTimeout = timeout
	_, addr := startServer(t, opts)
	c := dial(t, addr)
	c.conn.SetDeadline(time.Now().Add(30 * time.Second))
	c.login()
	start := time.Now()
	c.send("RETR 1")
	c.line() // the announced size is memback's, not the hook's
	if got := c.body(); got != "ab\r\ncd\r\n" {
		t.Fatalf("RETR body %q", got)
	}
	if d := time.Since(start); d < 2*timeout {
		t.Fatalf("RETR took %v: the test needs it to outlast StoreTimeout %v", d, timeout)
	}
}

// expectTruncated reads to the end of the connection: whatever was sent
// of the status line and message (the server does not flush a partial
// message, so possibly nothing), but never the terminator.
func expectTruncated(t *testing.T, c *client, status string) {
	t.Helper()
	rest, err := io.ReadAll(c.br)
	if err != nil && !isReset(err) {
		t.Fatal(err)
	}
	if len(rest) > 0 && !strings.HasPrefix(string(rest), status+"\r\n") {
		t.Fatalf("got %q, want nothing or %q and part of the message", rest, status)
	}
	if strings.HasSuffix(string(rest), ".\r\n") {
		t.Fatalf("truncated message followed by the terminator: %q", rest)
	}
}

// TestWriteTimeout: a client that stops reading is dropped after
// WriteTimeout, and the maildrop abandoned.
func TestWriteTimeout(t *testing.T) {
	b := memback.New()
	b.AddUser("bob", "secret")
	b.Add("bob", "big", []byte(strings.Repeat("0123456789abcdef\r\n", 4<<20/18*4))) // ~16 MiB
	opts := testOptions(b)
	opts.WriteTimeout = 200 * time.Millisecond
	_, addr := startServer(t, opts)
	c := dial(t, addr)
	c.login()
	c.conn.(*net.TCPConn).SetReadBuffer(4096)
	c.send("RETR 1")
	// Do not read: the server's writes block and time out.
	calls := waitCalls(t, b, 2)
	if len(calls) != 2 || calls[0].Op != "abandon" || len(calls[0].Retrieved) != 0 {
		t.Errorf("calls = %+v, want abandon without retrieval", calls)
	}
}

// TestAPOP: with an APOP-capable backend the greeting carries a timestamp
// and APOP logs in (RFC 1939 §7).
func TestAPOP(t *testing.T) {
	b := newBackend()
	b.SetAPOP(true)
	_, addr := startServer(t, testOptions(b))
	c := dial(t, addr)
	greeting := c.line()
	i, j := strings.IndexByte(greeting, '<'), strings.IndexByte(greeting, '>')
	if !strings.HasPrefix(greeting, "+OK pop.test POP3 server ready <") || i < 0 || j < i || !strings.Contains(greeting[i:j], "@pop.test") {
		t.Fatalf("greeting %q has no APOP timestamp", greeting)
	}
	stamp := greeting[i : j+1]
	digest := func(pass string) string {
		sum := md5.Sum([]byte(stamp + pass))
		return hex.EncodeToString(sum[:])
	}
	c.send("APOP bob " + digest("wrong"))
	c.expect("-ERR [AUTH] invalid user name or password")
	c.send("APOP bob nothex")
	c.expect("-ERR usage: APOP name digest")
	c.send("APOP bob " + strings.ToUpper(digest("secret")))
	c.expect("+OK maildrop has 3 messages (101 octets)")

	// Another connection gets another timestamp.
	c2 := dial(t, addr)
	if g := c2.line(); g == greeting {
		t.Error("two greetings with the same timestamp")
	}
}

// TestNoAPOPTimestamp: without APOP support the greeting has no timestamp
// (curl would otherwise insist on APOP).
func TestNoAPOPTimestamp(t *testing.T) {
	_, addr := startServer(t, testOptions(newBackend()))
	c := dial(t, addr)
	if g := c.line(); strings.ContainsAny(g, "<>") {
		t.Errorf("greeting %q carries a timestamp", g)
	}
}

// TestLogsAreCredentialFree: logs carry remote, session, user and the verb,
// never the PASS argument.
func TestLogsAreCredentialFree(t *testing.T) {
	var logs testkit.SyncBuffer
	opts := testOptions(newBackend())
	opts.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	_, addr := startServer(t, opts)
	c := dial(t, addr)
	c.line()
	c.send("USER bob", "PASS wrong-Pa55word")
	c.expect("+OK send PASS", "-ERR [AUTH] invalid user name or password")
	c.send("USER bob", "PASS secret", "QUIT")
	c.expect("+OK send PASS", "+OK maildrop has 3 messages (101 octets)", "+OK bye (3 messages left)")
	c.expectEOF()
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(logs.String(), "session ended") && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	out := logs.String()
	for _, secret := range []string{"wrong-Pa55word", "secret"} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{`"cmd":"PASS"`, `"remote":"127.0.0.1:`, `"session":`, `"user":"bob"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
}

// TestBadSnapshotFromBackend: UIDs that would break UIDL are refused.
func TestBadSnapshotFromBackend(t *testing.T) {
	for _, msgs := range [][]pop3server.Message{
		{{UID: "a b", Size: 1}},
		{{UID: "", Size: 1}},
		{{UID: strings.Repeat("x", 71), Size: 1}},
		{{UID: "a\r\n+OK", Size: 1}},
		{{UID: "dup", Size: 1}, {UID: "dup", Size: 2}},
		{{UID: "neg", Size: -1}},
	} {
		b := newBackend()
		hb := &hookBackend{Backend: b, wrap: func(mb pop3server.Mailbox) pop3server.Mailbox {
			return &hookMailbox{Mailbox: mb, messages: func(context.Context) ([]pop3server.Message, error) { return msgs, nil }}
		}}
		_, addr := startServer(t, testOptions(hb))
		c := dial(t, addr)
		c.line()
		c.send("USER bob", "PASS secret")
		c.expect("+OK send PASS", "-ERR [SYS/TEMP] temporary failure, try again later")
	}
}

// TestStoreFailsMidRetrLarge: when part of the message has already gone
// out (more than the stream buffer), the client sees a body without
// terminator: a reader reports io.ErrUnexpectedEOF, never a short message.
func TestStoreFailsMidRetrLarge(t *testing.T) {
	b := newBackend()
	big := []byte("Subject: big\r\n\r\n" + strings.Repeat("0123456789abcdef\r\n", 20000)) // ~360 KB
	hb := &hookBackend{Backend: b, wrap: func(mb pop3server.Mailbox) pop3server.Mailbox {
		return &hookMailbox{Mailbox: mb, open: func(ctx context.Context, n int) (io.ReadCloser, error) {
			return &failingReader{data: big[:len(big)/2], err: errors.New("plugin crashed")}, nil
		}}
	}}
	_, addr := startServer(t, testOptions(hb))
	c := dial(t, addr)
	c.login()
	c.send("RETR 1")
	c.expect("+OK 43 octets")
	n, err := io.Copy(io.Discard, wire.NewDotReader(c.br))
	if err != io.ErrUnexpectedEOF && !isReset(err) {
		t.Fatalf("reading a truncated RETR: %d octets, %v; want io.ErrUnexpectedEOF", n, err)
	}
	if n < 64<<10 {
		t.Errorf("only %d octets arrived before the close; expected the flushed part", n)
	}
	calls := waitCalls(t, b, 2)
	if len(calls) != 2 || calls[0].Op != "abandon" || len(calls[0].Retrieved) != 0 {
		t.Errorf("calls = %+v, want abandon without retrieval", calls)
	}
}

// TestDebugWriter: the opt-in raw transcript has both directions, line by
// line (and, as documented, the password).
func TestDebugWriter(t *testing.T) {
	var tr testkit.SyncBuffer
	opts := testOptions(newBackend())
	opts.DebugWriter = &tr
	_, addr := startServer(t, opts)
	c := dial(t, addr)
	c.login()
	c.send("QUIT")
	c.expect("+OK bye (3 messages left)")
	c.expectEOF()
	out := tr.String()
	for _, want := range []string{" S: +OK pop.test POP3 server ready\n", " C: USER bob\n", " C: PASS secret\n", " S: +OK send PASS\n", " C: QUIT\n", " S: +OK bye (3 messages left)\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("transcript lacks %q:\n%s", want, out)
		}
	}
}

// TestPanicInMessagesReleasesMaildrop: a panic while the snapshot is
// taken still abandons and closes the maildrop, so the user can log in
// again.
func TestPanicInMessagesReleasesMaildrop(t *testing.T) {
	b := newBackend()
	var panicked atomic.Bool
	hb := &hookBackend{Backend: b, wrap: func(mb pop3server.Mailbox) pop3server.Mailbox {
		return &hookMailbox{Mailbox: mb, messages: func(ctx context.Context) ([]pop3server.Message, error) {
			if panicked.CompareAndSwap(false, true) {
				panic("snapshot bug")
			}
			return mb.Messages(ctx)
		}}
	}}
	_, addr := startServer(t, testOptions(hb))
	c := dial(t, addr)
	c.line()
	c.send("USER bob")
	c.expect("+OK send PASS")
	c.send("PASS secret")
	c.expectEOF()
	calls := waitCalls(t, b, 2)
	if len(calls) != 2 || calls[0].Op != "abandon" || calls[1].Op != "close" {
		t.Fatalf("calls = %+v, want abandon, close", calls)
	}
	c2 := dial(t, addr)
	c2.login()
}

// lostLock is a backend whose maildrops lose their lock after the first
// RETR: every later call fails with ErrMaildropLost.
type lostLock struct{ b *memback.Backend }

func (l lostLock) Login(ctx context.Context, req pop3server.LoginRequest) (pop3server.Mailbox, error) {
	mb, err := l.b.Login(ctx, req)
	if err != nil {
		return nil, err
	}
	return &lostMailbox{Mailbox: mb}, nil
}

type lostMailbox struct {
	pop3server.Mailbox
	opens int
}

var errLost = fmt.Errorf("store: %w", pop3server.ErrMaildropLost)

func (m *lostMailbox) Open(ctx context.Context, n int) (io.ReadCloser, error) {
	if m.opens++; m.opens > 1 {
		return nil, errLost
	}
	return m.Mailbox.Open(ctx, n)
}

func (m *lostMailbox) Update(context.Context, []string, []string) error { return errLost }

// TestMaildropLost: a session whose maildrop lock is gone ends at once
// with -ERR [SYS/TEMP], on RETR and on QUIT, and is abandoned, never
// updated.
func TestMaildropLost(t *testing.T) {
	b := newBackend()
	_, addr := startServer(t, testOptions(lostLock{b}))
	c := dial(t, addr)
	c.login()
	c.send("RETR 1")
	if l := c.line(); !strings.HasPrefix(l, "+OK") {
		t.Fatalf("first RETR: %q", l)
	}
	for c.line() != "." {
	}
	c.send("RETR 2", "NOOP")
	c.expect("-ERR [SYS/TEMP] maildrop lock lost, session ended; nothing was changed")
	c.expectEOF()

	c = dial(t, addr)
	c.login()
	c.send("DELE 1", "QUIT")
	c.expect("+OK message 1 deleted", "-ERR [SYS/TEMP] maildrop lock lost, session ended; nothing was changed")
	c.expectEOF()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var ops []string
		for _, call := range b.Calls() {
			ops = append(ops, call.Op)
		}
		if strings.Join(ops, " ") == "abandon close abandon close" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("backend calls %v, want two abandoned sessions and no update", ops)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
