package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/izyware/izypop3/internal/testkit"
	"github.com/izyware/izypop3/internal/testkit/promtest"
)

// holdServer is a POP3 server (USER/PASS, any password, no PIPELINING)
// whose maildrop persists across sessions (DELE takes effect at QUIT), and
// which holds the RETR of one message until the test releases it.
type holdServer struct {
	ln      net.Listener
	holdNum int           // the message whose RETR waits (1-based, in the first session); 0: none
	reached chan struct{} // closed when that RETR arrives
	release chan struct{} // close to let it through

	mu      sync.Mutex
	msgs    []holdMsg
	held    bool
	deleted []string // UIDLs removed by a QUIT
}

type holdMsg struct{ uidl, body string }

func holdMessage(i int) holdMsg {
	return holdMsg{
		uidl: fmt.Sprintf("u%04d", i),
		body: fmt.Sprintf("From: a@example.com\r\nTo: b@example.com\r\nSubject: %d\r\nMessage-ID: <hold-%d@example.com>\r\n\r\nbody of message %d\r\n%s\r\n",
			i, i, i, strings.Repeat("x", 200+i)),
	}
}

// newHoldServer serves n messages on ln (127.0.0.1:0 when nil).
func newHoldServer(t *testing.T, ln net.Listener, n, holdNum int) *holdServer {
	t.Helper()
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	s := &holdServer{ln: ln, holdNum: holdNum, reached: make(chan struct{}), release: make(chan struct{})}
	for i := 1; i <= n; i++ {
		s.msgs = append(s.msgs, holdMessage(i))
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		if !s.held {
			s.held = true
		}
		s.mu.Unlock()
		select {
		case <-s.release:
		default:
			close(s.release)
		}
		wg.Wait()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				s.session(c)
			}()
		}
	}()
	return s
}

func (s *holdServer) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *holdServer) session(c net.Conn) {
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	reply := func(format string, args ...any) {
		fmt.Fprintf(w, format+"\r\n", args...)
		w.Flush()
	}
	reply("+OK hold server ready")
	var drop []holdMsg
	var marked []bool
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		f := strings.Fields(strings.TrimSpace(line))
		if len(f) == 0 {
			reply("-ERR empty")
			continue
		}
		num := func() (int, bool) {
			if len(f) < 2 {
				return 0, false
			}
			n, err := strconv.Atoi(f[1])
			return n, err == nil && n >= 1 && n <= len(drop) && !marked[n-1]
		}
		switch strings.ToUpper(f[0]) {
		case "CAPA":
			reply("+OK\r\nUSER\r\nUIDL\r\n.")
		case "USER":
			reply("+OK")
		case "PASS":
			s.mu.Lock()
			drop = slices.Clone(s.msgs)
			s.mu.Unlock()
			marked = make([]bool, len(drop))
			reply("+OK logged in")
		case "STAT":
			size := 0
			for _, m := range drop {
				size += len(m.body)
			}
			reply("+OK %d %d", len(drop), size)
		case "LIST", "UIDL":
			if len(f) > 1 {
				n, ok := num()
				if !ok {
					reply("-ERR no such message")
				} else if f[0] == "LIST" {
					reply("+OK %d %d", n, len(drop[n-1].body))
				} else {
					reply("+OK %d %s", n, drop[n-1].uidl)
				}
				continue
			}
			fmt.Fprintf(w, "+OK\r\n")
			for i, m := range drop {
				if marked[i] {
					continue
				}
				if strings.ToUpper(f[0]) == "LIST" {
					fmt.Fprintf(w, "%d %d\r\n", i+1, len(m.body))
				} else {
					fmt.Fprintf(w, "%d %s\r\n", i+1, m.uidl)
				}
			}
			reply(".")
		case "RETR":
			n, ok := num()
			if !ok {
				reply("-ERR no such message")
				continue
			}
			s.mu.Lock()
			hold := n == s.holdNum && !s.held
			s.held = s.held || hold
			s.mu.Unlock()
			if hold {
				close(s.reached)
				<-s.release
			}
			reply("+OK %d octets\r\n%s.", len(drop[n-1].body), drop[n-1].body)
		case "DELE":
			n, ok := num()
			if !ok {
				reply("-ERR no such message")
				continue
			}
			marked[n-1] = true
			reply("+OK deleted")
		case "NOOP":
			reply("+OK")
		case "RSET":
			clear(marked)
			reply("+OK")
		case "QUIT":
			s.mu.Lock()
			for i, m := range drop {
				if marked[i] {
					s.deleted = append(s.deleted, m.uidl)
					s.msgs = slices.DeleteFunc(s.msgs, func(x holdMsg) bool { return x.uidl == m.uidl })
				}
			}
			s.mu.Unlock()
			reply("+OK bye")
			return
		default:
			reply("-ERR unknown command")
		}
	}
}

// lineWatcher collects the lines of a child's output and lets the test
// wait for one that matches.
type lineWatcher struct {
	mu    sync.Mutex
	lines []string
	added chan struct{}
	done  chan struct{}
}

func watchLines(r io.Reader) *lineWatcher {
	lw := &lineWatcher{added: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(lw.done)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lw.mu.Lock()
			lw.lines = append(lw.lines, sc.Text())
			lw.mu.Unlock()
			select {
			case lw.added <- struct{}{}:
			default:
			}
		}
	}()
	return lw
}

// wait returns the first line matching re, failing the test after 60 s.
func (lw *lineWatcher) wait(t *testing.T, re string) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.After(60 * time.Second)
	for {
		lw.mu.Lock()
		for _, l := range lw.lines {
			if rx.MatchString(l) {
				lw.mu.Unlock()
				return l
			}
		}
		lw.mu.Unlock()
		select {
		case <-lw.added:
		case <-lw.done:
			lw.mu.Lock()
			defer lw.mu.Unlock()
			for _, l := range lw.lines {
				if rx.MatchString(l) {
					return l
				}
			}
			t.Fatalf("output ended without a line matching %q:\n%s", re, strings.Join(lw.lines, "\n"))
		case <-deadline:
			t.Fatalf("no line matching %q in 60 s:\n%s", re, lw.String())
		}
	}
}

func (lw *lineWatcher) String() string {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return strings.Join(lw.lines, "\n")
}

// startClient starts izypop3 with args, its stdout and stderr watched.
func startClient(t *testing.T, args ...string) (cmd *exec.Cmd, stdout, stderr *lineWatcher, wait func() error) {
	t.Helper()
	cmd = izyCmd(nil, args...)
	so, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	se, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stdout, stderr = watchLines(so), watchLines(se)
	done := make(chan error, 1)
	go func() {
		<-stdout.done
		<-stderr.done
		done <- cmd.Wait()
	}()
	var once sync.Once
	var werr error
	wait = func() error {
		once.Do(func() {
			select {
			case werr = <-done:
			case <-time.After(60 * time.Second):
				cmd.Process.Kill()
				werr = fmt.Errorf("still running after 60 s")
				<-done
			}
		})
		return werr
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		wait()
	})
	return cmd, stdout, stderr, wait
}

// messageIDs counts the Message-IDs of the .eml files of dir.
func messageIDs(t *testing.T, dir string) map[string]int {
	t.Helper()
	ids := map[string]int{}
	rx := regexp.MustCompile(`(?m)^Message-ID: (<[^>]+>)`)
	for _, p := range emlFiles(t, dir) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m := rx.FindSubmatch(b)
		if m == nil {
			t.Fatalf("%s has no Message-ID:\n%s", p, b)
		}
		ids[string(m[1])]++
	}
	return ids
}

// A real SIGTERM while --interval is fetching: the message in progress is
// finished, its batch tagged and deleted, the session ends with QUIT, exit
// 0 with a final summary; a rerun fetches the rest; every message is held
// exactly once and the server deleted only what the store holds.
func TestClientIntervalSIGTERMMidSync(t *testing.T) {
	const total, holdAt = 60, 25
	srv := newHoldServer(t, nil, total, holdAt)
	root := t.TempDir()
	args := []string{"clientpop3", "--ip", "127.0.0.1", "--port", strconv.Itoa(srv.port()), "--user", "erin", "--pass", "pw",
		"--modhandler", "localfs", "--mimestore.path", root, "--batch", "10", "--delete"}
	cmd, stdout, stderr, wait := startClient(t, append(args, "--interval", "1h")...)
	select {
	case <-srv.reached:
	case <-time.After(60 * time.Second):
		t.Fatalf("RETR %d never came:\n%s\n%s", holdAt, stdout, stderr)
	}
	// Messages 1..holdAt-1 were received; RETR holdAt waits at the server.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	stderr.wait(t, `^izypop3: SIGTERM: stopping after the message in progress`)
	close(srv.release)
	if err := wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s\n%s", err, stdout, stderr)
	}
	final := stdout.wait(t, `^stopped: 1 run, 0 failed; in all fetched \d+ `)
	ids := messageIDs(t, filepath.Join(root, "erin"))
	n := len(ids)
	if n < holdAt-1 || n > holdAt {
		t.Errorf("%d messages stored by the stopped run, want %d or %d (those received before the signal)", n, holdAt-1, holdAt)
	}
	if !strings.Contains(final, fmt.Sprintf("fetched %d ", n)) || !strings.Contains(final, fmt.Sprintf("%d deleted", n)) {
		t.Errorf("final summary %q: want fetched %d, %d deleted", final, n, n)
	}
	srv.mu.Lock()
	deleted := slices.Clone(srv.deleted)
	srv.mu.Unlock()
	if len(deleted) != n {
		t.Errorf("the server deleted %d messages, the store holds %d", len(deleted), n)
	}
	for _, u := range deleted {
		i, _ := strconv.Atoi(strings.TrimPrefix(u, "u"))
		if ids[fmt.Sprintf("<hold-%d@example.com>", i)] != 1 {
			t.Errorf("the server deleted %s, which the store does not hold", u)
		}
	}
	if strings.Contains(stderr.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", stderr)
	}
	// The rerun fetches the rest.
	out, errOut, code := izypop3(t, "", args...)
	if code != 0 || !strings.HasPrefix(out, fmt.Sprintf("fetched %d ", total-n)) {
		t.Fatalf("rerun: exit %d, %q\n%s", code, out, errOut)
	}
	ids = messageIDs(t, filepath.Join(root, "erin"))
	for i := 1; i <= total; i++ {
		if c := ids[fmt.Sprintf("<hold-%d@example.com>", i)]; c != 1 {
			t.Errorf("message %d held %d times, want exactly once", i, c)
		}
	}
	if len(ids) != total {
		t.Errorf("%d distinct messages held, want %d", len(ids), total)
	}
	if srv.mu.Lock(); len(srv.msgs) != 0 {
		t.Errorf("%d messages left on the server after --delete", len(srv.msgs))
	}
	srv.mu.Unlock()
}

// With --interval a failed run is reported and retried, each wait longer
// while it keeps failing; once the server is up the next run syncs.
func TestClientIntervalRetries(t *testing.T) {
	port := testkit.FreePort(t)
	root := t.TempDir()
	cmd, stdout, stderr, wait := startClient(t, "clientpop3", "--ip", "127.0.0.1", "--port", strconv.Itoa(port), "--user", "fred", "--pass", "pw",
		"--modhandler", "localfs", "--mimestore.path", root, "--interval", "100ms")
	stderr.wait(t, `^izypop3: run failed \(next run in 100ms\): connect 127\.0\.0\.1:\d+: .*connection refused`)
	stderr.wait(t, `^izypop3: run failed \(next run in 200ms\): `)
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Skipf("port %d taken again by another process: %v", port, err)
	}
	newHoldServer(t, ln, 4, 0)
	stdout.wait(t, `^fetched 4 `)
	cmd.Process.Signal(syscall.SIGINT)
	if err := wait(); err != nil {
		t.Fatalf("exit after SIGINT: %v\n%s\n%s", err, stdout, stderr)
	}
	final := stdout.wait(t, `^stopped: `)
	if !regexp.MustCompile(`^stopped: \d+ runs, [2-9]\d* failed; in all fetched 4 `).MatchString(final) {
		t.Errorf("final summary %q", final)
	}
	if n := len(emlFiles(t, filepath.Join(root, "fred"))); n != 4 {
		t.Errorf("%d messages stored, want 4", n)
	}
}

// clientpop3 --interval --http-listen: after a known run of two accounts
// (one syncs 5 messages, one cannot connect) the fetcher's counters, scraped
// and parsed with the Prometheus text parser, moved by exactly that.
func TestClientMetricsEndpoint(t *testing.T) {
	const n = 5
	srv := newHoldServer(t, nil, n, 0)
	closed, hport := testkit.FreePort(t), testkit.FreePort(t)
	root := t.TempDir()
	cfg := writeFile(t, "fetch.toml", fmt.Sprintf(`ip = "127.0.0.1"
pass = "pw"
interval = "1h"
http-listen = "127.0.0.1:%d"
modhandler = "localfs"
mimestore.path = %q

[account.good]
port = %d
user = "gina"

[account.down]
port = %d
user = "hank"
`, hport, root, srv.port(), closed))
	start := time.Now()
	cmd, stdout, stderr, wait := startClient(t, "clientpop3", "--config", cfg)
	stdout.wait(t, `^good: fetched 5 `)
	stderr.wait(t, `^down: izypop3: run failed \(next run in 1h0m0s\): `)
	base := "http://127.0.0.1:" + strconv.Itoa(hport)
	fams, _ := promtest.Scrape(t, base)
	var octets float64
	for i := 1; i <= n; i++ {
		octets += float64(len(holdMessage(i).body))
	}
	for _, w := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"izypop3_fetch_messages_total", []string{"account", "good", "outcome", "stored"}, n},
		{"izypop3_fetch_messages_total", []string{"account", "good", "outcome", "failed"}, 0},
		{"izypop3_fetch_messages_total", []string{"account", "good", "outcome", "held"}, 0},
		{"izypop3_fetch_bytes_total", []string{"account", "good"}, octets},
		{"izypop3_fetch_runs_total", []string{"account", "good", "result", "ok"}, 1},
		{"izypop3_fetch_runs_total", []string{"account", "good", "result", "failed"}, 0},
		{"izypop3_fetch_run_duration_seconds", []string{"account", "good"}, 1},
		{"izypop3_fetch_messages_total", []string{"account", "down", "outcome", "stored"}, 0},
		{"izypop3_fetch_bytes_total", []string{"account", "down"}, 0},
		{"izypop3_fetch_runs_total", []string{"account", "down", "result", "ok"}, 0},
		{"izypop3_fetch_runs_total", []string{"account", "down", "result", "failed"}, 1},
		{"izypop3_fetch_last_success_timestamp_seconds", []string{"account", "down"}, -1},
		{"izypop3_store_plugin_restarts_total", []string{"store", "localfs", "result", "ok"}, 0},
	} {
		if got := fams.Value(w.name, w.labels...); got != w.want {
			t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.want)
		}
	}
	last := fams.Value("izypop3_fetch_last_success_timestamp_seconds", "account", "good")
	if last < float64(start.Unix()) || last > float64(time.Now().Unix()+1) {
		t.Errorf("last_success_timestamp_seconds{good} = %v, want between %d and now", last, start.Unix())
	}
	if v := fams.Value("izypop3_store_calls_total", "store", "localfs", "code", "OK"); v < 1 {
		t.Errorf("store calls OK = %v", v)
	}
	if code, body := httpGet(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s\n%s", err, stdout, stderr)
	}
	stdout.wait(t, `^good: stopped: 1 run, 0 failed; in all fetched 5 `)
	stdout.wait(t, `^down: stopped: 1 run, 1 failed; `)
}
