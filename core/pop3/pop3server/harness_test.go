package pop3server_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/izyware/izypop3/core/pop3/pop3server"
	"github.com/izyware/izypop3/core/pop3/pop3server/memback"
	"github.com/izyware/izypop3/core/pop3/wire"
)

const testHost = "pop.test"

// testOptions returns options with small delays, for tests.
func testOptions(b pop3server.Backend) *pop3server.Options {
	return &pop3server.Options{
		Backend:       b,
		Hostname:      testHost,
		AuthFailDelay: 10 * time.Millisecond,
	}
}

// startServer serves opts on a loopback port and closes it at the end of
// the test.
func startServer(t testing.TB, opts *pop3server.Options) (*pop3server.Server, string) {
	t.Helper()
	return startServerFrom(t, opts, nil, false)
}

// newBackend returns a memback with user bob/secret and three messages.
func newBackend() *memback.Backend {
	b := memback.New()
	b.AddUser("bob", "secret")
	b.Add("bob", "uid-1", []byte("From: a\r\nSubject: one\r\n\r\nHello\r\n.dot line\r\n"))
	b.Add("bob", "uid-2", []byte("Subject: two\n\nbody\n"))
	b.Add("bob", "uid-3", []byte("Subject: three\r\n\r\nno final newline"))
	return b
}

type client struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return &client{t: t, conn: c, br: bufio.NewReader(c)}
}

func (c *client) send(lines ...string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, strings.Join(lines, "\r\n")+"\r\n"); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

func (c *client) line() string {
	c.t.Helper()
	l, err := c.br.ReadString('\n')
	if err != nil {
		c.t.Fatalf("reading reply: %v (got %q)", err, l)
	}
	if !strings.HasSuffix(l, "\r\n") {
		c.t.Fatalf("reply line %q does not end with CRLF", l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

func (c *client) expect(lines ...string) {
	c.t.Helper()
	for _, want := range lines {
		if got := c.line(); got != want {
			c.t.Fatalf("got  %q\nwant %q", got, want)
		}
	}
}

// expectEOF checks the server closed the connection.
func (c *client) expectEOF() {
	c.t.Helper()
	rest, err := io.ReadAll(c.br)
	if err != nil && !isReset(err) {
		c.t.Fatalf("expected EOF, got %v", err)
	}
	if len(rest) > 0 {
		c.t.Fatalf("expected EOF, got %q", rest)
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// body reads a multi-line body (after its status line) and unstuffs it.
func (c *client) body() string {
	c.t.Helper()
	b, err := io.ReadAll(wire.NewDotReader(c.br))
	if err != nil {
		c.t.Fatalf("reading multi-line body: %v", err)
	}
	return string(b)
}

// transcript runs a script of "C: line" (sent) and "S: line" (expected)
// lines; consecutive C: lines are sent in one write.
func transcript(t testing.TB, c *client, script string) {
	t.Helper()
	var batch []string
	for _, l := range strings.Split(strings.TrimSpace(script), "\n") {
		l = strings.TrimLeft(l, "\t ")
		switch {
		case strings.HasPrefix(l, "C: "):
			batch = append(batch, l[3:])
		case strings.HasPrefix(l, "S: "):
			if batch != nil {
				c.send(batch...)
				batch = nil
			}
			c.expect(l[3:])
		case l == "S: EOF" || l == "EOF":
			if batch != nil {
				c.send(batch...)
				batch = nil
			}
			c.expectEOF()
		default:
			t.Fatalf("bad script line %q", l)
		}
	}
	if batch != nil {
		c.send(batch...)
	}
}

// capaReply is the server's reply to CAPA: the capabilities of every
// session, then extra (those of the state and the options, in the server's
// order), then IMPLEMENTATION and the end of the list.
func capaReply(extra ...string) []string {
	r := []string{"+OK capability list follows", "TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"}
	r = append(r, extra...)
	return append(r, "IMPLEMENTATION izypop3", ".")
}

// capa is a CAPA exchange for transcript: the command, then
// capaReply(extra...).
func capa(extra ...string) string {
	return "C: CAPA\nS: " + strings.Join(capaReply(extra...), "\nS: ")
}

// startTLS completes the STLS exchange the server has just answered with
// +OK: the TLS handshake, after which the client reads and writes over TLS.
func (c *client) startTLS(config *tls.Config) *tls.Conn {
	c.t.Helper()
	tc := tls.Client(c.conn, config)
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake: %v", err)
	}
	c.conn, c.br = tc, bufio.NewReader(tc)
	return tc
}

// login reads the greeting and logs in as bob.
func (c *client) login() {
	c.t.Helper()
	c.line()
	c.send("USER bob", "PASS secret")
	c.expect("+OK send PASS")
	if l := c.line(); !strings.HasPrefix(l, "+OK maildrop has") {
		c.t.Fatalf("login: %q", l)
	}
}

// waitCalls waits until the backend recorded at least n calls.
func waitCalls(t testing.TB, b *memback.Backend, n int) []memback.Call {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		calls := b.Calls()
		if len(calls) >= n || time.Now().After(deadline) {
			return calls
		}
		time.Sleep(time.Millisecond)
	}
}

// hookBackend wraps a Backend to inject failures.
type hookBackend struct {
	pop3server.Backend
	login func(ctx context.Context, req pop3server.LoginRequest) (pop3server.Mailbox, error)
	wrap  func(pop3server.Mailbox) pop3server.Mailbox
}

func (h *hookBackend) Login(ctx context.Context, req pop3server.LoginRequest) (pop3server.Mailbox, error) {
	if h.login != nil {
		return h.login(ctx, req)
	}
	mb, err := h.Backend.Login(ctx, req)
	if err == nil && h.wrap != nil {
		mb = h.wrap(mb)
	}
	return mb, err
}

// hookMailbox wraps a Mailbox to inject failures; nil hooks pass through.
type hookMailbox struct {
	pop3server.Mailbox
	messages func(ctx context.Context) ([]pop3server.Message, error)
	open     func(ctx context.Context, n int) (io.ReadCloser, error)
	update   func(ctx context.Context, deleted, retrieved []string) error
}

func (h *hookMailbox) Messages(ctx context.Context) ([]pop3server.Message, error) {
	if h.messages != nil {
		return h.messages(ctx)
	}
	return h.Mailbox.Messages(ctx)
}

func (h *hookMailbox) Open(ctx context.Context, n int) (io.ReadCloser, error) {
	if h.open != nil {
		return h.open(ctx, n)
	}
	return h.Mailbox.Open(ctx, n)
}

func (h *hookMailbox) Update(ctx context.Context, deleted, retrieved []string) error {
	if h.update != nil {
		if err := h.update(ctx, deleted, retrieved); err != nil {
			return err
		}
	}
	return h.Mailbox.Update(ctx, deleted, retrieved)
}

func bufioReader(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }
