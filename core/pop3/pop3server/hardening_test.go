package pop3server_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/izyware/izypop3/core/pop3/pop3server"
	"github.com/izyware/izypop3/core/pop3/pop3server/memback"
	"github.com/izyware/izypop3/internal/testkit"
)

// remoteListener makes the connections it accepts report the remote
// address addr() gives, so that tests on 127.0.0.1 can be "from"
// anywhere (the per-address limits and the cleartext policy read it).
type remoteListener struct {
	net.Listener
	addr func() net.Addr
}

func (l *remoteListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &remoteConn{Conn: c, remote: l.addr()}, nil
}

type remoteConn struct {
	net.Conn
	remote net.Addr
}

func (c *remoteConn) RemoteAddr() net.Addr { return c.remote }

func fixedRemote(ip string) func() net.Addr {
	return func() net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000} }
}

// startServerFrom serves opts on a loopback port (through ServeTLS if
// tlsListener), every connection seen as coming from remote() unless
// remote is nil, and closes the server at the end of the test.
func startServerFrom(t testing.TB, opts *pop3server.Options, remote func() net.Addr, tlsListener bool) (*pop3server.Server, string) {
	t.Helper()
	srv := pop3server.New(opts)
	l := testkit.Listen(t)
	var ln net.Listener = l
	if remote != nil {
		ln = &remoteListener{Listener: l, addr: remote}
	}
	done := make(chan error, 1)
	go func() {
		if tlsListener {
			done <- srv.ServeTLS(ln)
		} else {
			done <- srv.Serve(ln)
		}
	}()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, pop3server.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return srv, l.Addr().String()
}

// closedWithin reads c until the server closes it and fails the test if
// that takes longer than max. It returns what was read.
func closedWithin(t *testing.T, c net.Conn, max time.Duration) string {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(max + 5*time.Second))
	b, _ := io.ReadAll(c)
	if d := time.Since(start); d > max {
		t.Fatalf("connection closed after %v, want within %v (read %q)", d, max, b)
	}
	return string(b)
}

// TestImplicitTLSHandshakeTimeout (regression: a silent or half-finished
// ClientHello on the POP3S port held the socket forever, and Shutdown
// waited for it).
func TestImplicitTLSHandshakeTimeout(t *testing.T) {
	serverTLS, _ := testkit.TLSConfigs(t, testHost)
	opts := testOptions(newBackend())
	opts.TLSConfig = serverTLS
	opts.TLSHandshakeTimeout = 300 * time.Millisecond
	srv, addr := startServerFrom(t, opts, nil, true)
	for _, send := range []string{"", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte(send))
		closedWithin(t, c, 2*time.Second)
		c.Close()
	}
	// Shutdown does not wait for a connection stuck in its handshake.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > 250*time.Millisecond {
		t.Errorf("Shutdown took %v with a connection in its handshake", d)
	}
}

// TestMaxAuthTime (regression: valid commands, or one byte per second,
// kept a session before login alive for ever).
func TestMaxAuthTime(t *testing.T) {
	opts := testOptions(newBackend())
	opts.AuthTimeout = 10 * time.Second
	opts.MaxAuthTime = 600 * time.Millisecond
	_, addr := startServer(t, opts)

	// A client sending CAPA every 50 ms.
	c := dial(t, addr)
	c.line()
	stop := make(chan struct{})
	go func(c *client) {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				io.WriteString(c.conn, "CAPA\r\n")
			}
		}
	}(c)
	out := closedWithin(t, c.conn, 3*time.Second)
	close(stop)
	if !strings.Contains(out, "-ERR autologout: no login within the time allowed") {
		t.Errorf("farewell missing: %q", out)
	}

	// A client sending one byte every 50 ms.
	slow := dial(t, addr)
	slow.line()
	go func() {
		for _, b := range []byte(strings.Repeat("CAPA\r\n", 100)) {
			if _, err := slow.conn.Write([]byte{b}); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	closedWithin(t, slow.conn, 3*time.Second)

	// A logged-in session is not bounded by MaxAuthTime.
	c = dial(t, addr)
	c.login()
	time.Sleep(800 * time.Millisecond)
	c.send("NOOP")
	c.expect("+OK")
}

// TestMaxConns (regression: no connection limit; 21 000 idle sockets ran
// the server out of file descriptors).
func TestMaxConns(t *testing.T) {
	opts := testOptions(newBackend())
	opts.MaxConns = 3
	opts.MaxConnsPerAddr = -1
	_, addr := startServer(t, opts)
	var held []*client
	for i := 0; i < 3; i++ {
		c := dial(t, addr)
		c.expect("+OK pop.test POP3 server ready")
		held = append(held, c)
	}
	c := dial(t, addr)
	c.expect("-ERR [SYS/TEMP] too many connections, try again later")
	c.expectEOF()
	// A slot freed is usable again.
	held[0].send("QUIT")
	held[0].expect("+OK bye")
	held[0].expectEOF()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := dial(t, addr)
		if l := c.line(); l == "+OK pop.test POP3 server ready" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("slot not freed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMaxConnsPerAddr: one address cannot take all the connections;
// others still get in.
func TestMaxConnsPerAddr(t *testing.T) {
	opts := testOptions(newBackend())
	opts.MaxConnsPerAddr = 2
	var n atomic.Int32
	remote := func() net.Addr {
		// The first three connections come from 192.0.2.1, then from
		// 192.0.2.2.
		if n.Add(1) <= 3 {
			return &net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 1}
		}
		return &net.TCPAddr{IP: net.ParseIP("192.0.2.2"), Port: 1}
	}
	_, addr := startServerFrom(t, opts, remote, false)
	for i := 0; i < 2; i++ {
		dial(t, addr).expect("+OK pop.test POP3 server ready")
	}
	c := dial(t, addr)
	c.expect("-ERR [SYS/TEMP] too many connections, try again later")
	dial(t, addr).expect("+OK pop.test POP3 server ready")
}

// TestIPv6AddrKey: an IPv6 /64 counts as one address.
func TestIPv6AddrKey(t *testing.T) {
	opts := testOptions(newBackend())
	opts.MaxConnsPerAddr = 1
	var n atomic.Int32
	remote := func() net.Addr {
		ips := []string{"2001:db8::1", "2001:db8::2", "2001:db8:0:1::1"}
		return &net.TCPAddr{IP: net.ParseIP(ips[n.Add(1)-1]), Port: 1}
	}
	_, addr := startServerFrom(t, opts, remote, false)
	dial(t, addr).expect("+OK pop.test POP3 server ready")
	dial(t, addr).expect("-ERR [SYS/TEMP] too many connections, try again later")
	dial(t, addr).expect("+OK pop.test POP3 server ready")
}

// countingBackend counts Login calls and the most running at once.
type countingBackend struct {
	pop3server.Backend
	delay   time.Duration
	calls   atomic.Int32
	running atomic.Int32
	peak    atomic.Int32
}

func (b *countingBackend) Login(ctx context.Context, req pop3server.LoginRequest) (pop3server.Mailbox, error) {
	b.calls.Add(1)
	r := b.running.Add(1)
	defer b.running.Add(-1)
	for {
		p := b.peak.Load()
		if r <= p || b.peak.CompareAndSwap(p, r) {
			break
		}
	}
	time.Sleep(b.delay)
	return b.Backend.Login(ctx, req)
}

// TestPipelinedLoginsDiscarded (regression: PASS lines pipelined behind a
// failed one were each checked, a bcrypt hash apiece).
func TestPipelinedLoginsDiscarded(t *testing.T) {
	back := &countingBackend{Backend: newBackend()}
	opts := testOptions(back)
	_, addr := startServer(t, opts)
	c := dial(t, addr)
	c.line()
	var lines []string
	for i := 0; i < 10; i++ {
		lines = append(lines, "USER bob", "PASS guess"+string(rune('a'+i)))
	}
	c.send(lines...)
	c.expect("+OK send PASS", "-ERR [AUTH] invalid user name or password")
	// The client learns of the failure; its next attempt is served.
	c.send("USER bob", "PASS secret")
	c.expect("+OK send PASS", "+OK maildrop has 3 messages (101 octets)")
	if n := back.calls.Load(); n != 2 {
		t.Errorf("Login called %d times, want 2", n)
	}
}

// TestMaxAuthFailures: a connection is closed after its third failure.
func TestMaxAuthFailures(t *testing.T) {
	opts := testOptions(newBackend())
	opts.AuthFailDelay = -1
	_, addr := startServer(t, opts)
	c := dial(t, addr)
	c.line()
	for i := 0; i < 2; i++ {
		c.send("USER bob", "PASS x")
		c.expect("+OK send PASS", "-ERR [AUTH] invalid user name or password")
	}
	c.send("USER bob", "PASS x")
	c.expect("+OK send PASS", "-ERR [AUTH] invalid user name or password", "-ERR too many failed logins, closing connection")
	c.expectEOF()
}

// TestAuthFailDelayGrowsPerAddress (regression: failures spread over many
// connections were not throttled across them): the delay doubles with
// each failure from one address, on any connection, is capped, does not
// touch other addresses, and is forgotten after a success.
func TestAuthFailDelayGrowsPerAddress(t *testing.T) {
	opts := testOptions(newBackend())
	opts.AuthFailDelay = 100 * time.Millisecond
	opts.MaxAuthFailDelay = 400 * time.Millisecond
	opts.AllowInsecureAuth = true // the server sees 192.0.2.x, not loopback
	var from atomic.Value
	from.Store("192.0.2.1")
	_, addr := startServerFrom(t, opts, func() net.Addr {
		return &net.TCPAddr{IP: net.ParseIP(from.Load().(string)), Port: 1}
	}, false)
	try := func(pass string) time.Duration {
		c := dial(t, addr)
		c.line()
		c.send("USER bob")
		c.expect("+OK send PASS")
		start := time.Now()
		c.send("PASS " + pass)
		if l := c.line(); (pass == "secret") != strings.HasPrefix(l, "+OK") {
			t.Fatalf("PASS %s: %q", pass, l)
		}
		d := time.Since(start)
		c.send("QUIT")
		return d
	}
	near := func(got, want time.Duration) bool {
		return got >= want-20*time.Millisecond && got < want+300*time.Millisecond
	}
	for i, want := range []time.Duration{100, 200, 400, 400} {
		if got := try("wrong"); !near(got, want*time.Millisecond) {
			t.Errorf("failure %d from 192.0.2.1: answered after %v, want about %v", i+1, got, want*time.Millisecond)
		}
	}
	from.Store("192.0.2.2")
	if got := try("wrong"); !near(got, 100*time.Millisecond) {
		t.Errorf("first failure from 192.0.2.2: answered after %v, want about 100ms", got)
	}
	from.Store("192.0.2.1")
	if got := try("secret"); !near(got, 0) {
		t.Errorf("good password from 192.0.2.1: %v", got)
	}
	if got := try("wrong"); !near(got, 100*time.Millisecond) {
		t.Errorf("failure after a success: answered after %v, want about 100ms", got)
	}
}

// TestOneCredentialCheckPerAddress (regression: 200 connections
// pipelining PASS hashed in parallel and starved real logins): checks from
// one address run one at a time; another address is not held up.
func TestOneCredentialCheckPerAddress(t *testing.T) {
	back := &countingBackend{Backend: newBackend(), delay: 50 * time.Millisecond}
	opts := testOptions(back)
	opts.AuthFailDelay = -1
	opts.MaxConnsPerAddr = -1
	opts.AllowInsecureAuth = true
	var from atomic.Value
	from.Store("192.0.2.1")
	_, addr := startServerFrom(t, opts, func() net.Addr {
		return &net.TCPAddr{IP: net.ParseIP(from.Load().(string)), Port: 1}
	}, false)
	var wg sync.WaitGroup
	var conns []*client
	for i := 0; i < 8; i++ {
		c := dial(t, addr)
		c.line()
		conns = append(conns, c)
	}
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			io.WriteString(c.conn, "USER bob\r\nPASS wrong\r\n")
			c.br.ReadString('\n')
			c.br.ReadString('\n')
		}()
	}
	time.Sleep(60 * time.Millisecond)
	from.Store("192.0.2.2")
	other := dial(t, addr)
	other.line()
	start := time.Now()
	other.send("USER bob", "PASS secret")
	other.expect("+OK send PASS", "+OK maildrop has 3 messages (101 octets)")
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("login from another address took %v while one address was busy", d)
	}
	wg.Wait()
	if p := back.peak.Load(); p > 2 {
		t.Errorf("%d credential checks ran at once (one address plus one other allowed)", p)
	}
}

// TestLoginDelay: RFC 2449 §6.5.
func TestLoginDelay(t *testing.T) {
	opts := testOptions(newBackend())
	opts.LoginDelay = 2 * time.Second
	_, addr := startServer(t, opts)
	c := dial(t, addr)
	c.line()
	c.send("CAPA")
	c.expect(capaReply("USER", "LOGIN-DELAY 2")...)
	c.send("USER bob", "PASS secret", "QUIT")
	c.expect("+OK send PASS", "+OK maildrop has 3 messages (101 octets)", "+OK bye (3 messages left)")
	c = dial(t, addr)
	c.line()
	c.send("USER bob", "PASS secret")
	c.expect("+OK send PASS", "-ERR [LOGIN-DELAY] logged in too recently, try again later")
}

// insecureServer serves newBackend with SASL as if every client came from
// 192.0.2.9 (not loopback), with STLS available.
func insecureServer(t *testing.T, allow bool) (string, *tls.Config) {
	serverTLS, clientTLS := testkit.TLSConfigs(t, testHost)
	back := newBackend()
	back.SetSASL(true)
	opts := testOptions(back)
	opts.TLSConfig = serverTLS
	opts.AllowInsecureAuth = allow
	_, addr := startServerFrom(t, opts, fixedRemote("192.0.2.9"), false)
	return addr, clientTLS
}

// TestCleartextPolicy: no password in the clear off loopback; STLS first,
// after which CAPA (read again) offers USER and SASL PLAIN.
func TestCleartextPolicy(t *testing.T) {
	addr, clientTLS := insecureServer(t, false)
	c := dial(t, addr)
	transcript(t, c, `
		S: +OK pop.test POP3 server ready
		`+capa("STLS")+`
		C: USER bob
		S: -ERR [AUTH] use STLS first
		C: PASS secret
		S: -ERR [AUTH] use STLS first
		C: AUTH PLAIN AGJvYgBzZWNyZXQ=
		S: -ERR [AUTH] use STLS first
		C: AUTH
		S: +OK SASL mechanisms follow
		S: .
		C: STLS
		S: +OK begin TLS negotiation
	`)
	tc := c.startTLS(clientTLS)
	if v := tc.ConnectionState().Version; v < tls.VersionTLS12 {
		t.Errorf("TLS version %x", v)
	}
	transcript(t, c, `
		`+capa("USER", "SASL PLAIN LOGIN")+`
		C: STLS
		S: -ERR already using TLS
		C: AUTH PLAIN AGJvYgBzZWNyZXQ=
		S: +OK maildrop has 3 messages (101 octets)
		`+capa()+`
		C: STLS
		S: -ERR command not valid in this state
		C: QUIT
		S: +OK bye (3 messages left)
	`)

	// AllowInsecureAuth lets them through.
	addr, _ = insecureServer(t, true)
	c = dial(t, addr)
	c.line()
	c.send("USER bob", "PASS secret")
	c.expect("+OK send PASS", "+OK maildrop has 3 messages (101 octets)")
}

// TestTLS12Minimum: a client limited to TLS 1.1 cannot connect, whatever
// the configured MinVersion.
func TestTLS12Minimum(t *testing.T) {
	serverTLS, clientTLS := testkit.TLSConfigs(t, testHost)
	serverTLS.MinVersion = tls.VersionTLS10
	opts := testOptions(newBackend())
	opts.TLSConfig = serverTLS
	_, addr := startServerFrom(t, opts, nil, true)
	old := clientTLS.Clone()
	old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	if c, err := tls.Dial("tcp", addr, old); err == nil {
		c.Close()
		t.Fatal("TLS 1.1 handshake succeeded")
	}
	c, err := tls.Dial("tcp", addr, clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// TestAuthSASL: RFC 5034 — initial response, "=", challenges, "*",
// invalid base64, unknown mechanism, wrong password, state rules.
func TestAuthSASL(t *testing.T) {
	back := newBackend()
	back.SetSASL(true)
	_, addr := startServer(t, testOptions(back))
	c := dial(t, addr)
	transcript(t, c, `
		S: +OK pop.test POP3 server ready
		`+capa("USER", "SASL PLAIN LOGIN")+`
		C: AUTH
		S: +OK SASL mechanisms follow
		S: PLAIN
		S: LOGIN
		S: .
		C: AUTH CRAM-MD5
		S: -ERR unsupported SASL mechanism
		C: AUTH PLAIN !!!
		S: -ERR invalid base64 in the initial response
		C: AUTH PLAIN
		S: + 
		C: *
		S: -ERR authentication cancelled
		C: AUTH plain
		S: + 
		C: not base64!
		S: -ERR invalid base64 in the SASL response; authentication aborted
		C: AUTH PLAIN =
		S: -ERR [AUTH] invalid user name or password
		C: AUTH LOGIN
		S: + `+b64("Username:")+`
		C: `+b64("bob")+`
		S: + `+b64("Password:")+`
		C: `+b64("wrong")+`
		S: -ERR [AUTH] invalid user name or password
		C: AUTH PLAIN `+b64("\x00bob\x00wrong")+`
		S: -ERR [AUTH] invalid user name or password
		S: -ERR too many failed logins, closing connection
		EOF
	`)
	c = dial(t, addr)
	transcript(t, c, `
		S: +OK pop.test POP3 server ready
		C: AUTH LOGIN `+b64("bob")+`
		S: + `+b64("Password:")+`
		C: `+b64("secret")+`
		S: +OK maildrop has 3 messages (101 octets)
		C: AUTH PLAIN
		S: -ERR command not valid in this state
		C: QUIT
		S: +OK bye (3 messages left)
	`)
	// A response longer than MaxSASLLine aborts the exchange.
	c = dial(t, addr)
	c.line()
	c.send("AUTH PLAIN")
	c.expect("+ ")
	c.send(strings.Repeat("A", pop3server.MaxSASLLine+1))
	c.expect("-ERR SASL response too long; authentication aborted")
	// A long token-sized response (8 KiB) is fine.
	c.send("AUTH PLAIN")
	c.expect("+ ")
	c.send(b64("\x00bob\x00secret" + strings.Repeat(" ", 6000)))
	c.expect("-ERR [AUTH] invalid user name or password")
}

// TestFailedLoginLogsNoUser (regression: a password typed into USER was
// logged at INFO with the failed login).
func TestFailedLoginLogsNoUser(t *testing.T) {
	var logs testkit.SyncBuffer
	back := newBackend()
	back.SetSASL(true)
	opts := testOptions(back)
	opts.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	_, addr := startServer(t, opts)
	c := dial(t, addr)
	c.line()
	c.send("USER Typed-Pa55word")
	c.expect("+OK send PASS")
	c.send("PASS x")
	c.expect("-ERR [AUTH] invalid user name or password")
	c.send("AUTH PLAIN " + b64("\x00Other-Pa55word\x00y"))
	c.expect("-ERR [AUTH] invalid user name or password")
	c.send("QUIT")
	c.expect("+OK bye")
	c.expectEOF()
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(logs.String(), "session ended") && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	for _, secret := range []string{"Typed-Pa55word", "Other-Pa55word", b64("\x00Other-Pa55word\x00y")} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("log contains %q:\n%s", secret, logs.String())
		}
	}
	if !strings.Contains(logs.String(), "login failed: bad credentials") {
		t.Errorf("failed login not logged:\n%s", logs.String())
	}
}

// TestStreamMemory: RETRs beyond Options.StreamMemory still work, through
// small buffers.
func TestStreamMemory(t *testing.T) {
	back := memback.New()
	back.AddUser("bob", "secret")
	back.AddUser("carol", "secret")
	big := strings.Repeat("0123456789abcdef\r\n", 400000)
	back.Add("bob", "u1", []byte(big))
	back.Add("carol", "u1", []byte(big))
	opts := testOptions(back)
	opts.StreamMemory = 1 // one full-size buffer set
	_, addr := startServer(t, opts)
	// A first client takes the budget and stalls (reads nothing).
	stalled := dial(t, addr)
	stalled.login()
	stalled.send("RETR 1")
	time.Sleep(100 * time.Millisecond)
	c := dial(t, addr)
	c.line()
	c.send("USER carol", "PASS secret")
	c.expect("+OK send PASS", "+OK maildrop has 1 messages (7200000 octets)")
	c.send("RETR 1")
	if l := c.line(); !strings.HasPrefix(l, "+OK ") {
		t.Fatal(l)
	}
	if got := c.body(); got != big {
		t.Fatalf("body of %d octets, want %d", len(got), len(big))
	}
}

// TestSASLMechanismsOption: only the listed mechanisms are offered.
func TestSASLMechanismsOption(t *testing.T) {
	back := newBackend()
	back.SetSASL(true)
	opts := testOptions(back)
	opts.SASLMechanisms = []string{"LOGIN", "SCRAM-SHA-256"}
	_, addr := startServer(t, opts)
	c := dial(t, addr)
	c.line()
	c.send("AUTH")
	c.expect("+OK SASL mechanisms follow", "LOGIN", ".")
	c.send("AUTH PLAIN =")
	c.expect("-ERR unsupported SASL mechanism")
}

// slowCloseMailbox takes a while to release its maildrop.
type slowCloseMailbox struct{ pop3server.Mailbox }

func (m slowCloseMailbox) Close() error {
	time.Sleep(30 * time.Millisecond)
	return m.Mailbox.Close()
}

// TestQuitReleasesBeforeReply (regression: "+OK" was flushed before the
// maildrop was released, so a client logging in again at once got
// -ERR [IN-USE]).
func TestQuitReleasesBeforeReply(t *testing.T) {
	back := &hookBackend{Backend: newBackend(), wrap: func(mb pop3server.Mailbox) pop3server.Mailbox { return slowCloseMailbox{mb} }}
	_, addr := startServer(t, testOptions(back))
	for i := 0; i < 20; i++ {
		c := dial(t, addr)
		c.line()
		c.send("USER bob", "PASS secret")
		c.expect("+OK send PASS")
		if l := c.line(); !strings.HasPrefix(l, "+OK maildrop") {
			t.Fatalf("cycle %d: login answered %q", i, l)
		}
		c.send("QUIT")
		c.expect("+OK bye (3 messages left)")
	}
}
