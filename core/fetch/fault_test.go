package fetch

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/izyware/izypop3/internal/testkit"
	"github.com/izyware/izypop3/sdk"
)

// A scripted server: a small POP3 server of the test's own whose replies
// are given octet for octet, to play servers that misbehave.
type scripted struct {
	greeting string   // the greeting line, without its line end
	eol      string   // line end of status and listing lines; default CRLF
	capa     []string // CAPA lines; nil: CAPA answers -ERR
	noUIDL   bool     // UIDL answers -ERR
	msgs     []*scriptedMsg
	// window, if positive, shows only the first window messages not yet
	// retrieved in a session that ended with QUIT (Gmail's POP3).
	window int

	mu        sync.Mutex
	hidden    map[string]bool // retrieved by a session that QUIT
	sessions  int
	deleted   []string
	addr      string
	listeners []net.Listener
}

type scriptedMsg struct {
	uidl     string
	data     string // the message as the server sends it, stuffed, without terminator
	listSize int64  // what LIST states
	reply    string // replaces the whole RETR reply (status line and data) when set
	drip     time.Duration
	dropAt   int // close the connection after this many octets of the reply (0: never; -1: after all of it)
}

func (s *scripted) start(t *testing.T) string {
	t.Helper()
	if s.eol == "" {
		s.eol = "\r\n"
	}
	if s.greeting == "" {
		s.greeting = "+OK scripted server ready"
	}
	s.hidden = map[string]bool{}
	ln := testkit.Listen(t)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	s.addr = ln.Addr().String()
	return s.addr
}

func (s *scripted) serve(c net.Conn) {
	defer c.Close()
	s.mu.Lock()
	s.sessions++
	var drop []*scriptedMsg
	for _, m := range s.msgs {
		if s.window > 0 && (s.hidden[m.uidl] || len(drop) == s.window) {
			continue
		}
		drop = append(drop, m)
	}
	s.mu.Unlock()
	br := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	line := func(l string) { w.WriteString(l + s.eol) }
	line(s.greeting)
	w.Flush()
	var retrieved, dele []string
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return
		}
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		num := func() *scriptedMsg {
			if len(f) < 2 {
				return nil
			}
			n, _ := strconv.Atoi(f[1])
			if n < 1 || n > len(drop) {
				return nil
			}
			return drop[n-1]
		}
		switch strings.ToUpper(f[0]) {
		case "CAPA":
			if s.capa == nil {
				line("-ERR unknown command")
				break
			}
			line("+OK")
			for _, c := range s.capa {
				line(c)
			}
			line(".")
		case "USER", "PASS", "NOOP":
			line("+OK")
		case "STAT":
			line(fmt.Sprintf("+OK %d 0", len(drop)))
		case "UIDL":
			if s.noUIDL {
				line("-ERR no UIDL here")
				break
			}
			line("+OK")
			for i, m := range drop {
				line(fmt.Sprintf("%d %s", i+1, m.uidl))
			}
			line(".")
		case "LIST":
			line("+OK")
			for i, m := range drop {
				line(fmt.Sprintf("%d %d", i+1, m.listSize))
			}
			line(".")
		case "RETR":
			m := num()
			if m == nil {
				line("-ERR no such message")
				break
			}
			reply := m.reply
			if reply == "" {
				reply = "+OK" + s.eol + m.data + "." + s.eol
			}
			w.Flush()
			if !writeReply(c, reply, m.drip, m.dropAt) {
				return
			}
			if strings.HasPrefix(reply, "+OK") {
				retrieved = append(retrieved, m.uidl)
			}
		case "DELE":
			m := num()
			if m == nil {
				line("-ERR no such message")
				break
			}
			dele = append(dele, m.uidl)
			line("+OK")
		case "QUIT":
			s.mu.Lock()
			for _, u := range retrieved {
				s.hidden[u] = true
			}
			s.deleted = append(s.deleted, dele...)
			s.msgs = slices.DeleteFunc(s.msgs, func(m *scriptedMsg) bool { return slices.Contains(dele, m.uidl) })
			s.mu.Unlock()
			line("+OK bye")
			w.Flush()
			return
		default:
			line("-ERR what")
		}
		if br.Buffered() == 0 {
			w.Flush()
		}
	}
}

// writeReply writes reply, octet by octet with drip between them when
// drip is set, and closes after dropAt octets. It reports whether the
// connection is still up.
func writeReply(c net.Conn, reply string, drip time.Duration, dropAt int) bool {
	b := []byte(reply)
	if dropAt < 0 || dropAt > len(b) {
		dropAt = len(b)
	}
	if dropAt > 0 {
		c.Write(b[:dropAt])
		return false
	}
	if drip == 0 {
		_, err := c.Write(b)
		return err == nil
	}
	for i := range b {
		if _, err := c.Write(b[i : i+1]); err != nil {
			return false
		}
		time.Sleep(drip)
	}
	return true
}

// message returns a small valid message and its stuffed form.
func scriptedMessage(i int, eol string) (raw, stuffed string) {
	lines := []string{"From: a@example.invalid", fmt.Sprintf("Subject: scripted %d", i), "", "body of " + strconv.Itoa(i), ".dot line", "end"}
	var r, st strings.Builder
	for _, l := range lines {
		r.WriteString(l + "\r\n")
		if strings.HasPrefix(l, ".") {
			st.WriteString(".")
		}
		st.WriteString(l + eol)
	}
	return r.String(), st.String()
}

func newScripted(n int, eol string) (*scripted, map[string][]byte) {
	s := &scripted{eol: eol, capa: []string{"UIDL", "PIPELINING", "USER"}}
	want := map[string][]byte{}
	for i := 1; i <= n; i++ {
		raw, stuffed := scriptedMessage(i, eol)
		u := fmt.Sprintf("u%d", i)
		s.msgs = append(s.msgs, &scriptedMsg{uidl: u, data: stuffed, listSize: int64(len(raw))})
		want[u] = []byte(raw)
	}
	return s, want
}

func scriptedOptions(addr string, st sdk.Store, logs *testkit.SyncBuffer) Options {
	o := Options{Account: Account{Addr: addr, User: testUser, Secret: testPass}, Store: st, Mailbox: testMailbox,
		Timeout: 2 * time.Second}
	if logs != nil {
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return o
}

// noPartial checks that no item in st holds anything but one of the whole
// messages of want.
func noPartial(t *testing.T, st sdk.Store, want map[string][]byte) {
	t.Helper()
	whole := map[string]bool{}
	for _, w := range want {
		whole[string(w)] = true
	}
	for _, it := range items(t, st) {
		if !whole[string(it.data)] {
			t.Errorf("item %s (%s, %s) is not a whole message: %q", it.UID, it.Tag, it.SourceID, it.data)
		}
	}
}

func TestFaultSizesWrong(t *testing.T) {
	s, want := newScripted(3, "\r\n")
	s.msgs[0].listSize = 5      // understated
	s.msgs[1].listSize = 100000 // overstated
	addr := s.start(t)
	st := syncStore{newTestStore()}
	var logs testkit.SyncBuffer
	sum := runOK(t, scriptedOptions(addr, st, &logs))
	if sum.Stored != 3 {
		t.Errorf("%+v", sum)
	}
	checkExactlyOnce(t, st, addr, want, nil)
	if n := strings.Count(logs.String(), "LIST size differs"); n != 2 {
		t.Errorf("%d warnings about LIST sizes, want 2:\n%s", n, logs.String())
	}
}

func TestFaultBareLF(t *testing.T) {
	s, want := newScripted(4, "\n")
	s.greeting = "+ok bare LF server"
	addr := s.start(t)
	st := syncStore{newTestStore()}
	if sum := runOK(t, scriptedOptions(addr, st, nil)); sum.Stored != 4 {
		t.Errorf("%+v", sum)
	}
	checkExactlyOnce(t, st, addr, want, nil) // stored with CRLF
}

func TestFaultGreetingsAndNoCAPA(t *testing.T) {
	for _, g := range []string{"+OK", "+OK ", "+ok", "+OK POP3 <x@y> ready <1.2@host>"} {
		s, want := newScripted(2, "\r\n")
		s.greeting = g
		s.capa = nil // an RFC 1939 server without CAPA: no pipelining
		addr := s.start(t)
		st := syncStore{newTestStore()}
		o := scriptedOptions(addr, st, nil)
		o.Account.Auth = AuthUser
		if sum := runOK(t, o); sum.Stored != 2 {
			t.Errorf("greeting %q: %+v", g, sum)
		}
		checkExactlyOnce(t, st, addr, want, nil)
	}
}

// connectionBreaks are the ways the tests cut a RETR reply short.
var connectionBreaks = []struct {
	name    string
	breakIt func(m *scriptedMsg)
}{
	{"dropped mid-RETR", func(m *scriptedMsg) { m.dropAt = 30 }},
	{"missing terminator", func(m *scriptedMsg) { m.reply = "+OK\r\n" + m.data; m.dropAt = -1 }},
	{"dropped after the status line", func(m *scriptedMsg) { m.dropAt = 5 }},
	{"dropped inside the terminator", func(m *scriptedMsg) { m.reply = "+OK\r\n" + m.data + ".\r"; m.dropAt = -1 }},
}

// checkConnectionBreak runs a fetch into st of five messages, the third
// cut short by breakIt: it alone fails, nothing of it is stored, nothing
// is deleted without QUIT; once the server is fixed the rerun completes,
// each message stored exactly once.
func checkConnectionBreak(t *testing.T, breakIt func(*scriptedMsg), st sdk.Store) {
	t.Helper()
	s, want := newScripted(5, "\r\n")
	broken := s.msgs[2]
	breakIt(broken)
	addr := s.start(t)
	o := scriptedOptions(addr, st, nil)
	o.Delete = true
	var failed []Event
	o.OnMessage = func(e Event) {
		if e.Outcome == Failed {
			failed = append(failed, e)
		}
	}
	sum, err := Run(context.Background(), o)
	wantKind(t, err, KindNetwork)
	if sum.Stored != 2 || sum.Failed != 1 || len(failed) != 1 || failed[0].UIDL != "u3" {
		t.Errorf("summary %+v, failed %v", sum, failed)
	}
	if len(s.deleted) != 0 {
		t.Errorf("deleted %v without QUIT", s.deleted)
	}
	noPartial(t, st, want)
	// The server is fixed; the rerun completes, exactly once.
	*broken = scriptedMsg{uidl: broken.uidl, data: broken.data, listSize: broken.listSize}
	sum = runOK(t, o)
	if sum.Stored != 3 || sum.Deleted != 5 {
		t.Errorf("rerun %+v", sum)
	}
	checkExactlyOnce(t, st, addr, want, nil)
}

func TestFaultConnectionBreaks(t *testing.T) {
	for _, tc := range connectionBreaks {
		t.Run(tc.name, func(t *testing.T) {
			checkConnectionBreak(t, tc.breakIt, syncStore{newTestStore()})
		})
	}
}

func TestFaultSlowDrip(t *testing.T) {
	s, want := newScripted(2, "\r\n")
	s.msgs[1].drip = 3 * time.Millisecond // ~100 octets: 0.3 s, each wait far below the timeout
	addr := s.start(t)
	st := syncStore{newTestStore()}
	o := scriptedOptions(addr, st, nil)
	o.Timeout = 250 * time.Millisecond
	if sum := runOK(t, o); sum.Stored != 2 {
		t.Errorf("%+v", sum)
	}
	checkExactlyOnce(t, st, addr, want, nil)

	// A stall longer than the timeout fails the message, stores nothing of it.
	s2, want2 := newScripted(2, "\r\n")
	s2.msgs[0].drip = 400 * time.Millisecond
	addr2 := s2.start(t)
	st2 := syncStore{newTestStore()}
	o2 := scriptedOptions(addr2, st2, nil)
	o2.Timeout = 250 * time.Millisecond
	_, err := Run(context.Background(), o2)
	wantKind(t, err, KindNetwork)
	if len(items(t, st2)) != 0 {
		t.Errorf("something stored from a stalled server")
	}
	noPartial(t, st2, want2)
}

func TestFaultErrorReplies(t *testing.T) {
	s, want := newScripted(4, "\r\n")
	s.msgs[1].reply = "-ERR [SYS/TEMP] cannot open the message now\r\n"
	s.msgs[2].reply = "-ERR message locked\r\n"
	addr := s.start(t)
	st := syncStore{newTestStore()}
	o := scriptedOptions(addr, st, nil)
	o.Delete = true
	errs := map[string]error{}
	o.OnMessage = func(e Event) {
		if e.Outcome == Failed {
			errs[e.UIDL] = e.Err
		}
	}
	sum, err := Run(context.Background(), o)
	wantKind(t, err, KindPartial)
	if sum.Stored != 2 || sum.Failed != 2 || sum.Deleted != 2 || sum.Sessions != 2 {
		t.Errorf("%+v", sum)
	}
	if e := errs["u2"]; e == nil || !strings.Contains(e.Error(), "[SYS/TEMP] cannot open") {
		t.Errorf("u2: %v", e)
	}
	if e := errs["u3"]; e == nil || !strings.Contains(e.Error(), "message locked") {
		t.Errorf("u3: %v", e)
	}
	if strings.Join(s.deleted, ",") != "u1,u4" {
		t.Errorf("deleted %v, want u1,u4", s.deleted)
	}
	delete(want, "u2")
	delete(want, "u3")
	checkExactlyOnce(t, st, addr, want, nil)
}

func TestFaultNoUIDL(t *testing.T) {
	s, _ := newScripted(2, "\r\n")
	s.noUIDL = true
	addr := s.start(t)
	st := syncStore{newTestStore()}
	_, err := Run(context.Background(), scriptedOptions(addr, st, nil))
	wantKind(t, err, KindProtocol)
	if len(items(t, st)) != 0 {
		t.Error("stored without UIDL")
	}
	md, err := Inspect(context.Background(), scriptedOptions(addr, nil, nil), true)
	if err != nil || len(md.Messages) != 2 || md.Messages[0].UIDL != "" {
		t.Errorf("list without UIDL: %+v, %v", md, err)
	}
}

func TestFaultRefusedLogin(t *testing.T) {
	for _, tc := range []struct {
		reply string
		kind  Kind
	}{
		{"-ERR [AUTH] bad password", KindAuth},
		{"-ERR bad password", KindAuth},
		{"-ERR [SYS/TEMP] try later", KindNetwork},
	} {
		// A server that refuses PASS.
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			br := bufio.NewReader(c)
			fmt.Fprint(c, "+OK hi\r\n")
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					return
				}
				switch {
				case strings.HasPrefix(l, "PASS"):
					fmt.Fprint(c, tc.reply+"\r\n")
				case strings.HasPrefix(l, "CAPA"):
					fmt.Fprint(c, "-ERR\r\n")
				default:
					fmt.Fprint(c, "+OK\r\n")
				}
			}
		}()
		_, err := Run(context.Background(), scriptedOptions(ln.Addr().String(), syncStore{newTestStore()}, nil))
		wantKind(t, err, tc.kind)
		if !strings.Contains(err.Error(), strings.TrimPrefix(tc.reply, "-ERR ")) {
			t.Errorf("error %q does not show the server's reply %q", err, tc.reply)
		}
	}
}

func TestWindowedServerIsDrained(t *testing.T) {
	s, want := newScripted(23, "\r\n")
	s.window = 5 // Gmail shows a few hundred per session; 5 here
	addr := s.start(t)
	st := syncStore{newTestStore()}
	sum := runOK(t, scriptedOptions(addr, st, nil))
	if sum.Stored != 23 || sum.Sessions != 6 {
		t.Errorf("%+v: want 23 stored in 5 sessions plus one that finds nothing", sum)
	}
	checkExactlyOnce(t, st, addr, want, nil)

	// MaxSessions bounds it; the next run goes on.
	s2, want2 := newScripted(23, "\r\n")
	s2.window = 5
	addr2 := s2.start(t)
	st2 := syncStore{newTestStore()}
	o := scriptedOptions(addr2, st2, nil)
	o.MaxSessions = 2
	if sum := runOK(t, o); sum.Stored != 10 || sum.Sessions != 2 {
		t.Errorf("bounded: %+v", sum)
	}
	runOK(t, o)
	runOK(t, o)
	checkExactlyOnce(t, st2, addr2, want2, nil)
}
