// Package load holds the load tests of the POP3 server: floods of
// connections, slow and silent senders, a wrong-password storm and stalled
// RETRs, each bounded in count and time, on 127.0.0.1 only, against an
// in-process server (pop3server over pop3backend and the sdk's memstore,
// bcrypt users file). Each reports the peak goroutines and heap, the CPU
// used, and how long a well-behaved client took to log in and RETR a
// message meanwhile; each fails when that client fails or is slow, or when
// goroutines or heap pass a bound.
//
// The counts are those of the issue scaled by IZYPOP3_LOAD_SCALE (default
// 0.1, so that go test stays short; 1 gives 1000 connections, 20 000
// attempts, 300 slow senders of each kind, 200 wrong-password pipeliners
// and 100 stalled 50 MiB RETRs). docs/performance.md quotes the figures of
// a run at scale 1.
package load

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"math/big"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/izyware/izypop3/core/auth"
	"github.com/izyware/izypop3/core/pop3/pop3server"
	"github.com/izyware/izypop3/core/storehost/pop3backend"
	"github.com/izyware/izypop3/internal/testkit"
	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/storetest/memstore"
)

func scale(t *testing.T, n int) int {
	f := 0.1
	if s := os.Getenv("IZYPOP3_LOAD_SCALE"); s != "" {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || v <= 0 || v > 1 {
			t.Fatalf("IZYPOP3_LOAD_SCALE=%q: want a number in (0, 1]", s)
		}
		f = v
	}
	return max(1, int(float64(n)*f))
}

// server is an in-process server with alice (bcrypt password "pw", a 20 KB
// message and a 50 MiB one) and its addresses.
type server struct {
	addr, tlsAddr string
	logs          *testkit.SyncBuffer // the server's log, at INFO
}

func startServer(t *testing.T, opts pop3server.Options) server {
	t.Helper()
	st := &bigStore{Store: memstore.New()}
	small := "Subject: small\r\n\r\n" + strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstu\r\n", 290)
	if _, err := st.Put(context.Background(), "alice", sdk.PutOptions{}, strings.NewReader(small)); err != nil {
		t.Fatal(err)
	}
	return startServerOver(t, opts, st)
}

// usersFile holds alice (bcrypt, "pw") and stall0, stall1, ... (SCRAM
// verifiers of "pw").
func usersFile(t *testing.T) *auth.UsersFile {
	t.Helper()
	h, err := auth.HashPasswordScheme(auth.SchemeBcrypt, "pw")
	if err != nil {
		t.Fatal(err)
	}
	users := "alice:" + h + "\n"
	for i := range stallUsers {
		v, err := auth.HashPasswordScheme(auth.SchemeSCRAMSHA256, "pw")
		if err != nil {
			t.Fatal(err)
		}
		users += fmt.Sprintf("stall%d:%s\n", i, v)
	}
	uf, err := auth.ParseUsersFile(strings.NewReader(users))
	if err != nil {
		t.Fatal(err)
	}
	return uf
}

// startServerOver is startServer over store st, which must give alice a
// 20 KB message and each stallN a 50 MiB one.
func startServerOver(t *testing.T, opts pop3server.Options, st sdk.Store) server {
	t.Helper()
	b, err := pop3backend.New(st, pop3backend.Options{Auth: usersFile(t)})
	if err != nil {
		t.Fatal(err)
	}
	opts.Backend = b
	opts.TLSConfig = testTLS(t)
	if opts.AuthFailDelay == 0 {
		opts.AuthFailDelay = 100 * time.Millisecond
	}
	logs := &testkit.SyncBuffer{}
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	srv := pop3server.New(&opts)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); srv.Serve(l) }()
	go func() { defer wg.Done(); srv.ServeTLS(tl) }()
	t.Cleanup(func() { srv.Close(); wg.Wait() })
	return server{l.Addr().String(), tl.Addr().String(), logs}
}

// stallUsers is how many users stall0, stall1, ... exist: each has one
// 50 MiB message, the same bytes for all (bigStore).
const stallUsers = 100

var bigMessage = []byte("Subject: big\r\n\r\n" + strings.Repeat(strings.Repeat("x", 1022)+"\r\n", 50<<10))

// bigStore is the memstore, but the mailboxes stallN hold one message,
// bigMessage, shared.
type bigStore struct{ *memstore.Store }

func (s *bigStore) List(ctx context.Context, mailbox string, opts sdk.ListOptions) iter.Seq2[sdk.Item, error] {
	if !strings.HasPrefix(mailbox, "stall") {
		return s.Store.List(ctx, mailbox, opts)
	}
	return func(yield func(sdk.Item, error) bool) {
		n := int64(len(bigMessage))
		yield(sdk.Item{UID: "big", Size: n, WireSize: n, Tag: sdk.TagUnread}, nil)
	}
}

func (s *bigStore) Fetch(ctx context.Context, mailbox, uid string) (io.ReadCloser, error) {
	if !strings.HasPrefix(mailbox, "stall") {
		return s.Store.Fetch(ctx, mailbox, uid)
	}
	return io.NopCloser(bytes.NewReader(bigMessage)), nil
}

func testTLS(t *testing.T) *tls.Config {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// dialFrom connects from the loopback address src ("" for the default):
// attackers come from 127.0.0.2, so the per-address cap spares the
// well-behaved client on 127.0.0.1.
func dialFrom(src, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	return d.Dial("tcp", addr)
}

// meter samples goroutines and heap until stop, and measures CPU.
type meter struct {
	stop             chan struct{}
	done             chan struct{}
	goroutines, heap atomic.Int64
	base, heap0      int64
	ru0              syscall.Rusage
	t0               time.Time
}

func startMeter() *meter {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m := &meter{stop: make(chan struct{}), done: make(chan struct{}), base: int64(runtime.NumGoroutine()),
		heap0: int64(ms.HeapInuse), t0: time.Now()}
	syscall.Getrusage(syscall.RUSAGE_SELF, &m.ru0)
	go func() {
		defer close(m.done)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if g := int64(runtime.NumGoroutine()); g > m.goroutines.Load() {
				m.goroutines.Store(g)
			}
			if h := int64(ms.HeapInuse); h > m.heap.Load() {
				m.heap.Store(h)
			}
			select {
			case <-m.stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return m
}

// end stops the meter and returns a one-line report: peak goroutines and
// peak growth of the heap in use over its level at the start (the whole
// test process: the attackers' garbage too), CPU seconds (attackers
// included) over wall seconds.
func (m *meter) end() (goroutines, heapMiB int64, report string) {
	close(m.stop)
	<-m.done
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := time.Duration(ru.Utime.Nano()+ru.Stime.Nano()-m.ru0.Utime.Nano()-m.ru0.Stime.Nano()) * time.Nanosecond
	wall := time.Since(m.t0)
	g, h := m.goroutines.Load(), max(0, m.heap.Load()-m.heap0)>>20
	return g, h, fmt.Sprintf("peak goroutines %d (before %d), heap in use up to %d MiB above its start, CPU %.1f s over %.1f s (test process, attackers included)",
		g, m.base, h, cpu.Seconds(), wall.Seconds())
}

// goodClient logs in as alice and RETRs the 20 KB message, returning the
// login and the RETR time.
func goodClient(addr string) (login, retr time.Duration, err error) {
	c, err := dialFrom("", addr)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	line := func() (string, error) {
		l, err := r.ReadString('\n')
		return strings.TrimRight(l, "\r\n"), err
	}
	start := time.Now()
	if l, err := line(); err != nil || !strings.HasPrefix(l, "+OK") {
		return 0, 0, fmt.Errorf("greeting %q, %v", l, err)
	}
	for _, cmd := range []string{"USER alice", "PASS pw"} {
		fmt.Fprintf(c, "%s\r\n", cmd)
		if l, err := line(); err != nil || !strings.HasPrefix(l, "+OK") {
			return 0, 0, fmt.Errorf("%s: %q, %v", cmd, l, err)
		}
	}
	login = time.Since(start)
	start = time.Now()
	io.WriteString(c, "RETR 1\r\n")
	if l, err := line(); err != nil || !strings.HasPrefix(l, "+OK") {
		return 0, 0, fmt.Errorf("RETR: %q, %v", l, err)
	}
	n := 0
	for {
		l, err := line()
		if err != nil {
			return 0, 0, fmt.Errorf("RETR body: %v", err)
		}
		if l == "." {
			break
		}
		n += len(l) + 2
	}
	retr = time.Since(start)
	if n < 20000 {
		return 0, 0, fmt.Errorf("RETR: %d octets", n)
	}
	io.WriteString(c, "QUIT\r\n")
	line()
	return login, retr, nil
}

// probe runs the well-behaved client every 500 ms while the load runs and
// returns the worst login and RETR times; a failed login fails the test.
func probe(t *testing.T, addr string, stop <-chan struct{}) func() (time.Duration, time.Duration) {
	var worstLogin, worstRetr time.Duration
	var n int
	done := make(chan struct{})
	go func() {
		defer close(done)
		for first := true; ; first = false {
			if !first {
				select {
				case <-stop:
					return
				case <-time.After(500 * time.Millisecond):
				}
			}
			l, r, err := goodClient(addr)
			if err != nil {
				t.Errorf("well-behaved client under load: %v", err)
				continue
			}
			n++
			worstLogin, worstRetr = max(worstLogin, l), max(worstRetr, r)
		}
	}()
	return func() (time.Duration, time.Duration) {
		<-done
		if n == 0 {
			t.Error("the well-behaved client never ran")
		}
		return worstLogin, worstRetr
	}
}

// manyClients runs n clients at once, each connected to addr from
// 127.0.0.2 and given to client with its number (the connection is closed
// after), and waits for them all.
func manyClients(t *testing.T, n int, addr string, client func(i int, c net.Conn)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dialFrom("127.0.0.2", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			client(i, c)
		}()
	}
	wg.Wait()
}

// check fails the test when the well-behaved client was slow or the
// server's goroutines or heap passed their bounds, and logs the figures.
func check(t *testing.T, m *meter, worst func() (time.Duration, time.Duration), maxGoroutines, maxHeapMiB int64) {
	t.Helper()
	login, retr := worst()
	g, h, report := m.end()
	t.Logf("%s; well-behaved client: worst login %v, worst RETR of 20 KB %v", report,
		login.Round(time.Millisecond), retr.Round(time.Millisecond))
	// bcrypt at its default cost takes ~0.1 s on an idle core; the
	// bounds leave room for a loaded machine.
	if login > 5*time.Second || retr > 2*time.Second {
		t.Errorf("well-behaved client: login %v, RETR %v; want below 5 s and 2 s", login, retr)
	}
	if g > maxGoroutines {
		t.Errorf("peak goroutines %d, want at most %d", g, maxGoroutines)
	}
	if h > maxHeapMiB {
		t.Errorf("heap in use grew by %d MiB, want at most %d", h, maxHeapMiB)
	}
}

// TestThousandConnections: N idle connections before login are served
// (up to the cap) with a bounded cost each.
func TestThousandConnections(t *testing.T) {
	n := scale(t, 1000)
	s := startServer(t, pop3server.Options{MaxConns: n + 50, MaxConnsPerAddr: n + 50})
	m := startMeter()
	stop := make(chan struct{})
	worst := probe(t, s.addr, stop)
	var conns []net.Conn
	for range n {
		c, err := dialFrom("127.0.0.2", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if l, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.HasPrefix(l, "+OK") {
			t.Fatalf("connection %d: greeting %q, %v", len(conns), l, err)
		}
	}
	time.Sleep(3 * time.Second)
	close(stop)
	check(t, m, worst, int64(3*n+200), int64(n/10+64))
	for _, c := range conns {
		c.Close()
	}
}

// TestAttemptsBeyondTheCap: N connection attempts from one address beyond
// its cap (held full meanwhile) are all refused with -ERR [SYS/TEMP] and
// closed; the server's cost stays flat.
func TestAttemptsBeyondTheCap(t *testing.T) {
	n := scale(t, 20000)
	const perAddr = 20
	s := startServer(t, pop3server.Options{MaxConnsPerAddr: perAddr})
	m := startMeter()
	stop := make(chan struct{})
	worst := probe(t, s.addr, stop)
	for range perAddr {
		c, err := dialFrom("127.0.0.2", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		bufio.NewReader(c).ReadString('\n')
	}
	var refused, other atomic.Int64
	var wg sync.WaitGroup
	work := make(chan struct{})
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				c, err := dialFrom("127.0.0.2", s.addr)
				if err != nil {
					other.Add(1)
					continue
				}
				c.SetDeadline(time.Now().Add(10 * time.Second))
				l, _ := bufio.NewReader(c).ReadString('\n')
				if strings.HasPrefix(l, "-ERR [SYS/TEMP]") {
					refused.Add(1)
				} else {
					other.Add(1)
				}
				c.Close()
			}
		}()
	}
	start := time.Now()
	for range n {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	d := time.Since(start)
	close(stop)
	t.Logf("%d attempts in %v (%.0f/s): %d refused with -ERR [SYS/TEMP], %d otherwise", n, d.Round(time.Millisecond), float64(n)/d.Seconds(), refused.Load(), other.Load())
	if refused.Load() != int64(n) {
		t.Errorf("%d of %d attempts beyond the cap refused with -ERR [SYS/TEMP]", refused.Load(), n)
	}
	check(t, m, worst, 400, 64)
}

// TestSlowSenders: N connections of each kind that never log in are all
// cut by MaxAuthTime (or the TLS handshake deadline) while a well-behaved
// client logs in: one octet per second, a valid command every 200 ms, and
// silent POP3S connections.
func TestSlowSenders(t *testing.T) {
	n := scale(t, 300)
	const authTime = 4 * time.Second
	s := startServer(t, pop3server.Options{MaxConns: 3*n + 50, MaxConnsPerAddr: 3*n + 50,
		MaxAuthTime: authTime, TLSHandshakeTimeout: 2 * time.Second})
	m := startMeter()
	stop := make(chan struct{})
	worst := probe(t, s.addr, stop)
	type result struct {
		kind string
		d    time.Duration
		err  error
	}
	results := make(chan result, 3*n)
	run := func(kind, addr string, send func(c net.Conn, i int) bool) {
		c, err := dialFrom("127.0.0.2", addr)
		if err != nil {
			results <- result{kind, 0, err}
			return
		}
		defer c.Close()
		start := time.Now()
		closed := make(chan struct{})
		go func() { io.Copy(io.Discard, c); close(closed) }()
		for i := 0; ; i++ {
			select {
			case <-closed:
				results <- result{kind, time.Since(start), nil}
				return
			case <-time.After(200 * time.Millisecond):
			}
			if time.Since(start) > 3*authTime {
				results <- result{kind, time.Since(start), fmt.Errorf("still connected")}
				return
			}
			if send != nil && !send(c, i) {
				<-closed
				results <- result{kind, time.Since(start), nil}
				return
			}
		}
	}
	slow := "CAPA\r\n"
	for range n {
		go run("one octet per second", s.addr, func(c net.Conn, i int) bool {
			if i%5 != 0 {
				return true
			}
			_, err := c.Write([]byte{slow[(i/5)%len(slow)]})
			return err == nil
		})
		go run("CAPA every 200 ms", s.addr, func(c net.Conn, i int) bool {
			_, err := io.WriteString(c, "CAPA\r\n")
			return err == nil
		})
		go run("silent POP3S", s.tlsAddr, nil)
	}
	worstBy := map[string]time.Duration{}
	for range 3 * n {
		r := <-results
		if r.err != nil {
			t.Errorf("%s: %v after %v", r.kind, r.err, r.d)
		}
		worstBy[r.kind] = max(worstBy[r.kind], r.d)
	}
	close(stop)
	t.Logf("%d of each kind; last cut after: %v", n, worstBy)
	check(t, m, worst, int64(9*n+200), int64(n/10+64))
}

// TestWrongPasswordStorm: N connections pipelining 10 wrong PASS each
// (--users mode: bcrypt) while a well-behaved client logs in.
func TestWrongPasswordStorm(t *testing.T) {
	n := scale(t, 200)
	// The failure delay, doubling per address, is capped at 1 s (default
	// 15 s) to keep the test short.
	s := startServer(t, pop3server.Options{MaxConns: n + 50, MaxConnsPerAddr: n + 50, MaxAuthFailDelay: time.Second})
	m := startMeter()
	stop := make(chan struct{})
	worst := probe(t, s.addr, stop)
	var pipeline strings.Builder
	for i := range 10 {
		fmt.Fprintf(&pipeline, "USER alice\r\nPASS wrong%d\r\n", i)
	}
	manyClients(t, n, s.addr, func(_ int, c net.Conn) {
		io.WriteString(c, pipeline.String())
		// Read the replies until the server closes or says nothing more
		// for 3 s (it discards what was pipelined after a failure, and
		// waits for new commands).
		buf := make([]byte, 512)
		for {
			c.SetReadDeadline(time.Now().Add(3 * time.Second))
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	})
	time.Sleep(time.Second)
	close(stop)
	check(t, m, worst, int64(3*n+200), int64(n/10+64))
}

// stallRetrs runs n clients that RETR the 50 MiB message of stall0,
// stall1, ... and never read it, for 8 s.
func stallRetrs(t *testing.T, n int, addr string) {
	manyClients(t, n, addr, func(i int, c net.Conn) {
		c.(*net.TCPConn).SetReadBuffer(4096)
		fmt.Fprintf(c, "USER stall%d\r\nPASS pw\r\nRETR 1\r\n", i)
		br := bufio.NewReaderSize(c, 16)
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		for range 4 { // greeting, USER, PASS, RETR
			if l, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(l, "+OK") {
				t.Errorf("stalling client %d: %q, %v", i, l, err)
				return
			}
		}
		time.Sleep(8 * time.Second) // never read more
	})
}

// TestStalledRetrs: N clients RETR the 50 MiB message and never read; the
// server's heap stays bounded (its stream memory cap) and MinSendRate
// cuts them.
func TestStalledRetrs(t *testing.T) {
	n := min(scale(t, 100), stallUsers)
	s := startServer(t, pop3server.Options{MaxConns: n + 50, MaxConnsPerAddr: n + 50,
		WriteTimeout: 3 * time.Second, MinSendRate: 16 << 20})
	m := startMeter()
	stop := make(chan struct{})
	worst := probe(t, s.addr, stop)
	var cut atomic.Int64
	stallRetrs(t, n, s.addr)
	close(stop)
	// Each RETR must be out within 3 s + 50 MiB at 16 MiB/s: the server
	// has cut every one by now.
	cut.Store(int64(strings.Count(s.logs.String(), "write failed while sending message")))
	t.Logf("%d stalled 50 MiB RETRs, %d cut by the server", n, cut.Load())
	if cut.Load() != int64(n) {
		t.Errorf("%d of %d stalled RETRs cut by the server, want all", cut.Load(), n)
	}
	check(t, m, worst, int64(4*n+200), int64(64+n/2))
}
