package pop3server_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/izyware/izypop3/core/pop3/pop3server"
	"github.com/izyware/izypop3/core/pop3/pop3server/memback"
)

// panicLog fails on any log record of a recovered panic.
type panicLog struct {
	mu     sync.Mutex
	panics []string
}

func (h *panicLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *panicLog) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "panic") {
		h.mu.Lock()
		h.panics = append(h.panics, r.Message)
		h.mu.Unlock()
	}
	return nil
}
func (h *panicLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *panicLog) WithGroup(string) slog.Handler      { return h }

// fuzzServer is one server per fuzz process, over a fresh backend per
// input (swapped in through backendSwitch).
type backendSwitch struct {
	mu sync.Mutex
	b  *memback.Backend
}

func (s *backendSwitch) get() *memback.Backend {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b
}

func (s *backendSwitch) Login(ctx context.Context, r pop3server.LoginRequest) (pop3server.Mailbox, error) {
	return s.get().Login(ctx, r)
}
func (s *backendSwitch) APOPEnabled() bool { return s.get().APOPEnabled() }
func (s *backendSwitch) LoginAPOP(ctx context.Context, u, ts, d, r string) (pop3server.Mailbox, error) {
	return s.get().LoginAPOP(ctx, u, ts, d, r)
}
func (s *backendSwitch) SASLMechanisms() []string { return s.get().SASLMechanisms() }
func (s *backendSwitch) NewSASL(ctx context.Context, mech, remote string) (pop3server.SASLExchange, error) {
	return s.get().NewSASL(ctx, mech, remote)
}

// multiLine reports whether a positive reply to line (sent outside an AUTH
// exchange) is a multi-line block (RFC 1939 §3, RFC 2449 §5).
func multiLine(line string) bool {
	kw, rest, hasArgs := strings.Cut(line, " ")
	switch strings.ToUpper(kw) {
	case "CAPA", "RETR", "TOP":
		return true
	case "LIST", "UIDL", "AUTH":
		return !hasArgs && rest == ""
	}
	return false
}

// runSession sends the lines of script one at a time to a server session
// and checks every reply: one CRLF-terminated status line ("+OK", "-ERR",
// or "+ " during AUTH), or a status line and a multi-line block ending with
// ".". It returns whether a QUIT was answered "+OK" in the TRANSACTION
// state.
func runSession(t *testing.T, addr string, script []string) (quitOK bool) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	readLine := func() (string, bool) {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		l, err := br.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) && l == "" {
				return "", false
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("no reply within 5 s (partial %q)", l)
			}
			if strings.Contains(err.Error(), "reset") && l == "" {
				return "", false
			}
			t.Fatalf("reading a reply: %v (partial %q)", err, l)
		}
		if !strings.HasSuffix(l, "\r\n") || strings.Count(l, "\r") != 1 {
			t.Fatalf("reply line %q not ended by one CRLF", l)
		}
		return strings.TrimSuffix(l, "\r\n"), true
	}
	if l, ok := readLine(); !ok || !strings.HasPrefix(l, "+OK ") {
		t.Fatalf("greeting %q", l)
	}
	inAuth, loggedIn := false, false
	for _, line := range script {
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, line+"\r\n"); err != nil {
			return quitOK // the server closed (too many errors, QUIT)
		}
		l, ok := readLine()
		if !ok {
			return quitOK
		}
		switch {
		case strings.HasPrefix(l, "+ ") || l == "+":
			if !inAuth && !strings.HasPrefix(strings.ToUpper(line), "AUTH ") {
				t.Fatalf("challenge %q outside AUTH (after %q)", l, line)
			}
			inAuth = true
			continue
		case l == "+OK" || strings.HasPrefix(l, "+OK "):
			wasAuth := inAuth
			inAuth = false
			if strings.HasPrefix(l, "+OK maildrop has") {
				loggedIn = true
			}
			if !wasAuth && strings.EqualFold(line, "QUIT") && loggedIn {
				quitOK = true
			}
			if !wasAuth && multiLine(line) {
				for {
					b, ok := readLine()
					if !ok {
						t.Fatalf("multi-line reply to %q ended without its terminator", line)
					}
					if b == "." {
						break
					}
				}
			}
		case strings.HasPrefix(l, "-ERR"):
			inAuth = false
			// A farewell may follow an error: it is read as the reply to
			// the next line, and the connection then ends.
		default:
			t.Fatalf("reply %q to %q is no status line", l, line)
		}
	}
	return quitOK
}

func fuzzBackend() *memback.Backend {
	b := memback.New()
	b.AddUser("bob", "secret")
	b.Add("bob", "uid-1", []byte("Subject: one\r\n\r\n.dot\r\nbody\r\n"))
	b.Add("bob", "uid-2", []byte("Subject: two\n\nno final newline"))
	b.Add("bob", "uid-3", []byte(""))
	b.SetSASL(true)
	b.SetAPOP(true)
	return b
}

// fuzzSessions serves one server for the fuzz run and checks, for each
// script: the replies are well formed, no panic is logged, and the store
// changes (an Update call) only after a QUIT answered +OK.
func fuzzSessions(f *testing.F, seeds []string, prefix []string) {
	for _, s := range seeds {
		f.Add(s)
	}
	sw := &backendSwitch{b: fuzzBackend()}
	logs := &panicLog{}
	opts := testOptions(sw)
	opts.AuthFailDelay = -1
	opts.MaxAuthFailures = 1000
	opts.MaxConnsPerAddr = -1
	opts.Logger = slog.New(logs)
	_, addr := startServer(f, opts)
	f.Fuzz(func(t *testing.T, input string) {
		b := fuzzBackend()
		sw.mu.Lock()
		sw.b = b
		sw.mu.Unlock()
		script := append(append([]string(nil), prefix...), strings.Split(input, "\n")...)
		if len(script) > 64 {
			script = script[:64]
		}
		for i, l := range script {
			script[i] = strings.TrimSuffix(l, "\r")
		}
		quitOK := runSession(t, addr, script)
		// Wait for the session to end, then look at what it did.
		var calls []memback.Call
		deadline := time.Now().Add(5 * time.Second)
		for {
			calls = b.Calls()
			if !b.Locked("bob") || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Millisecond)
		}
		for _, c := range calls {
			if c.Op == "update" && !quitOK {
				t.Fatalf("the store was updated without a QUIT answered +OK: %+v", calls)
			}
		}
		logs.mu.Lock()
		defer logs.mu.Unlock()
		if len(logs.panics) > 0 {
			t.Fatalf("panic logged: %v", logs.panics)
		}
	})
}

// FuzzSession: random command sequences against an in-memory backend.
func FuzzSession(f *testing.F) {
	fuzzSessions(f, []string{
		"USER bob\nPASS secret\nSTAT\nLIST\nUIDL\nRETR 1\nTOP 2 0\nDELE 1\nRSET\nDELE 2\nQUIT",
		"USER bob\nPASS secret\nDELE 1\nLIST 1\nNOOP",
		"CAPA\nAUTH\nAUTH PLAIN AGJvYgBzZWNyZXQ=\nLIST\nQUIT",
		"APOP bob 00000000000000000000000000000000\nUSER x\nPASS y\nQUIT",
		"user bob\npass secret\nuidl 9\ntop 1 99999999999999999999\nlist \nquit",
		"STLS\nAUTH LOGIN\nYm9i\nc2VjcmV0\nRETR 3\nQUIT",
	}, nil)
}

// FuzzAuthExchange: the AUTH exchange (RFC 5034) with random responses:
// the first line starts an exchange, the rest answer its challenges.
func FuzzAuthExchange(f *testing.F) {
	fuzzSessions(f, []string{
		"AUTH PLAIN\nAGJvYgBzZWNyZXQ=\nSTAT\nQUIT",
		"AUTH LOGIN\nYm9i\nc2VjcmV0\nQUIT",
		"AUTH LOGIN Ym9i\n*\nAUTH PLAIN =\n",
		"AUTH PLAIN\n!!\nAUTH plain\n\n",
		"AUTH PLAIN " + strings.Repeat("QUFB", 70) + "\nQUIT",
		"AUTH X-UNKNOWN\nAUTH PLAIN AGJvYgB4\nAUTH LOGIN\n=\n=\n",
	}, nil)
}
