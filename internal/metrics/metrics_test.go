package metrics

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/izyware/izypop3/core/pop3/pop3server"
	"github.com/izyware/izypop3/core/pop3/pop3server/memback"
	"github.com/izyware/izypop3/core/storehost"
	"github.com/izyware/izypop3/internal/testkit"
	"github.com/izyware/izypop3/internal/testkit/promtest"
	"github.com/izyware/izypop3/sdk"
)

func TestMain(m *testing.M) {
	code := m.Run()
	storehost.Cleanup()
	testkit.Cleanup()
	os.Exit(code)
}

// client is a POP3 client that counts the octets it receives.
type client struct {
	t     *testing.T
	c     net.Conn
	r     *bufio.Reader
	bytes int
}

func (c *client) line() string {
	c.t.Helper()
	c.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	l, err := c.r.ReadString('\n')
	c.bytes += len(l)
	if err != nil {
		c.t.Fatalf("reading: %v (got %q)", err, l)
	}
	return l
}

// cmd sends line and returns the status line; multi reads a multi-line
// body to its terminator.
func (c *client) cmd(line string, multi bool) string {
	c.t.Helper()
	fmt.Fprintf(c.c, "%s\r\n", line)
	st := c.line()
	if multi && strings.HasPrefix(st, "+OK") {
		for c.line() != ".\r\n" {
		}
	}
	return st
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestServerMetrics(t *testing.T) {
	reg := New("v-test", "c0ffee")
	var notReady atomic.Pointer[error]
	ready := func(ctx context.Context) error {
		if p := notReady.Load(); p != nil {
			return *p
		}
		return nil
	}
	hs, err := reg.Listen("127.0.0.1:0", ready, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer hs.Close()
	base := "http://" + hs.Addr().String()

	mb := memback.New()
	mb.AddUser("alice", "secret")
	msg := []byte("Subject: hi\r\n\r\n.dot line\r\nbody\r\n")
	mb.Add("alice", "u1", msg)
	mb.Add("alice", "u2", msg)
	srv := pop3server.New(&pop3server.Options{Backend: mb, Observer: reg.Server(), AuthFailDelay: -1})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()

	before, _ := promtest.Scrape(t, base)
	if v := before.Value("izypop3_pop3_logins_total", "result", "auth"); v != 0 {
		t.Fatalf("logins{auth} before any session = %v, want 0 (present from the start)", v)
	}
	if v := before.Value("izypop3_build_info", "version", "v-test", "commit", "c0ffee"); v != 1 {
		t.Fatalf("build_info = %v", v)
	}

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, c: conn, r: bufio.NewReader(conn)}
	c.line() // greeting
	c.cmd("USER alice", false)
	if st := c.cmd("PASS wrong", false); !strings.HasPrefix(st, "-ERR [AUTH]") {
		t.Fatalf("PASS wrong: %q", st)
	}
	c.cmd("USER alice", false)
	if st := c.cmd("PASS secret", false); !strings.HasPrefix(st, "+OK") {
		t.Fatalf("PASS: %q", st)
	}
	mid, _ := promtest.Scrape(t, base)
	if v := mid.Value("izypop3_pop3_sessions_active"); v != 1 {
		t.Errorf("sessions_active during the session = %v, want 1", v)
	}
	c.cmd("STAT", false)
	c.cmd("RETR 1", true)
	c.cmd("RETR 2", true)
	c.cmd("XYZZY", false)
	c.cmd("DELE 1", false)
	c.cmd("QUIT", false)
	if _, err := c.r.ReadByte(); err != io.EOF {
		t.Fatalf("after QUIT: %v, want EOF", err)
	}
	conn.Close()

	var after promtest.Families
	waitFor(t, "the session to end", func() bool {
		after, _ = promtest.Scrape(t, base)
		return after.Value("izypop3_pop3_sessions_active") == 0
	})
	promtest.CheckMoves(t, before, after,
		promtest.Moved("izypop3_pop3_sessions_total", 1),
		promtest.Moved("izypop3_pop3_logins_total", 1, "result", "auth"),
		promtest.Moved("izypop3_pop3_logins_total", 1, "result", "ok"),
		promtest.Moved("izypop3_pop3_commands_total", 2, "command", "USER", "result", "ok"),
		promtest.Moved("izypop3_pop3_commands_total", 1, "command", "PASS", "result", "err"),
		promtest.Moved("izypop3_pop3_commands_total", 2, "command", "RETR", "result", "ok"),
		promtest.Moved("izypop3_pop3_commands_total", 1, "command", "OTHER", "result", "err"),
		promtest.Moved("izypop3_pop3_commands_total", 1, "command", "QUIT", "result", "ok"),
		promtest.Moved("izypop3_pop3_retr_duration_seconds", 2),
		// Every octet the client read, greeting included.
		promtest.Moved("izypop3_pop3_sent_bytes_total", float64(c.bytes)),
	)

	for _, p := range []string{"/healthz", "/readyz"} {
		if code := get(t, base+p); code != 200 {
			t.Errorf("GET %s = %d, want 200", p, code)
		}
	}
	down := errors.New("store down")
	notReady.Store(&down)
	if code := get(t, base+"/readyz"); code != 503 {
		t.Errorf("GET /readyz while not ready = %d, want 503", code)
	}
	if code := get(t, base+"/healthz"); code != 200 {
		t.Errorf("GET /healthz while not ready = %d, want 200", code)
	}
	notReady.Store(nil)
	if code := get(t, base+"/readyz"); code != 200 {
		t.Errorf("GET /readyz after recovery = %d, want 200", code)
	}

	_, body := promtest.Scrape(t, base)
	promtoolCheck(t, body)
}

func get(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// promtoolCheck runs `promtool check metrics` (the Prometheus project's
// linter) on a scrape. .ci/install-deps.sh installs it (Debian package
// prometheus).
func promtoolCheck(t *testing.T, body []byte) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("SKIP promtool check metrics: promtool not installed (apt-get install prometheus, or .ci/install-deps.sh)")
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestStoreMetrics counts the calls of a real store plugin (fake) and its
// restart after it is killed.
func TestStoreMetrics(t *testing.T) {
	bin := testkit.Build(t, "github.com/izyware/izypop3/plugins/fake", storehost.BinaryPrefix+"fake", "")
	reg := New("v", "c")
	ctx := context.Background()
	h, err := storehost.Open(ctx, storehost.Options{Name: "fake", Path: bin, Observer: reg.Store(),
		MinRestartDelay: time.Millisecond, Config: map[string]string{"count": "3"}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	reg.StoreOpened("fake")
	hs, err := reg.Listen("127.0.0.1:0", nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer hs.Close()
	base := "http://" + hs.Addr().String()
	before, _ := promtest.Scrape(t, base)

	st := h.Store()
	var uids []string
	var size0 int64
	for it, err := range st.List(ctx, "alice", sdk.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		if uids == nil {
			size0 = it.Size
		}
		uids = append(uids, it.UID)
	}
	if len(uids) != 3 {
		t.Fatalf("fake listed %d items, want 3", len(uids))
	}
	rc, err := st.Fetch(ctx, "alice", uids[0])
	if err != nil {
		t.Fatal(err)
	}
	// The observed stream changes nothing of what it carries.
	if n, err := io.Copy(io.Discard, rc); err != nil || n != size0 {
		t.Fatalf("Fetch read %d octets (%v), List said %d", n, err, size0)
	}
	rc.Close()
	if _, err := st.Fetch(ctx, "alice", "no-such-uid"); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("Fetch of a missing UID: %v", err)
	}

	p, err := os.FindProcess(h.PID())
	if err != nil {
		t.Fatal(err)
	}
	p.Kill()
	// The next call finds the plugin dead; the one after it restarts it.
	waitFor(t, "a restart", func() bool {
		_, err := st.Stat(ctx, "alice")
		return err == nil
	})

	after, body := promtest.Scrape(t, base)
	promtest.CheckMoves(t, before, after,
		promtest.Moved("izypop3_store_calls_total", 1, "store", "fake", "method", "List", "code", "OK"),
		promtest.Moved("izypop3_store_calls_total", 1, "store", "fake", "method", "Fetch", "code", "OK"),
		promtest.Moved("izypop3_store_calls_total", 1, "store", "fake", "method", "Fetch", "code", "NotFound"),
		promtest.Moved("izypop3_store_call_duration_seconds", 1, "store", "fake", "method", "List"),
		promtest.Moved("izypop3_store_plugin_restarts_total", 1, "store", "fake", "result", "ok"),
	)
	if v := after.Value("izypop3_store_calls_total", "store", "fake", "method", "Stat", "code", "OK"); v < 1 {
		t.Errorf("Stat OK calls = %v, want ≥ 1", v)
	}
	promtoolCheck(t, body)
}
