package pop3server_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/izyware/izypop3/core/pop3/pop3server/memback"
)

// TestTranscript walks one whole session: raw lines in, exact lines out.
// Message 1 is 43 octets, 2 is 22 (bare LF converted), 3 is 36 (final CRLF
// added).
func TestTranscript(t *testing.T) {
	b := newBackend()
	_, addr := startServer(t, testOptions(b))
	c := dial(t, addr)
	transcript(t, c, `
		S: +OK pop.test POP3 server ready
		`+capa("USER")+`
		C: USER bob
		S: +OK send PASS
		C: PASS secret
		S: +OK maildrop has 3 messages (101 octets)
		`+capa()+`
		C: STAT
		S: +OK 3 101
		C: LIST
		S: +OK 3 messages (101 octets)
		S: 1 43
		S: 2 22
		S: 3 36
		S: .
		C: LIST 2
		S: +OK 2 22
		C: UIDL
		S: +OK unique-id listing follows
		S: 1 uid-1
		S: 2 uid-2
		S: 3 uid-3
		S: .
		C: UIDL 3
		S: +OK 3 uid-3
		C: RETR 1
		S: +OK 43 octets
		S: From: a
		S: Subject: one
		S: 
		S: Hello
		S: ..dot line
		S: .
		C: TOP 2 0
		S: +OK top of message follows
		S: Subject: two
		S: 
		S: .
		C: RETR 3
		S: +OK 36 octets
		S: Subject: three
		S: 
		S: no final newline
		S: .
		C: DELE 1
		S: +OK message 1 deleted
		C: STAT
		S: +OK 2 58
		C: LIST
		S: +OK 2 messages (58 octets)
		S: 2 22
		S: 3 36
		S: .
		C: UIDL
		S: +OK unique-id listing follows
		S: 2 uid-2
		S: 3 uid-3
		S: .
		C: LIST 1
		S: -ERR message 1 already deleted
		C: RETR 1
		S: -ERR message 1 already deleted
		C: DELE 1
		S: -ERR message 1 already deleted
		C: RSET
		S: +OK maildrop has 3 messages (101 octets)
		C: LIST 1
		S: +OK 1 43
		C: DELE 2
		S: +OK message 2 deleted
		C: NOOP
		S: +OK
		C: QUIT
		S: +OK bye (2 messages left)
		EOF
	`)
	calls := waitCalls(t, b, 2)
	want := []memback.Call{
		{Op: "update", User: "bob", Deleted: []string{"uid-2"}, Retrieved: []string{"uid-1", "uid-3"}},
		{Op: "close", User: "bob"},
	}
	if !reflect.DeepEqual(calls, want) {
		t.Errorf("backend calls = %+v, want %+v", calls, want)
	}
	if got := b.UIDs("bob"); !reflect.DeepEqual(got, []string{"uid-1", "uid-3"}) {
		t.Errorf("after QUIT the maildrop holds %q", got)
	}
}

// TestPipelining writes every command in one write, then reads the replies
// in order (RFC 2449 §6.6).
func TestPipelining(t *testing.T) {
	b := newBackend()
	_, addr := startServer(t, testOptions(b))
	c := dial(t, addr)
	c.line()
	c.send("USER bob", "PASS secret", "STAT", "LIST 1", "RETR 2", "BOGUS", "DELE 1", "UIDL", "TOP 1 1", "DELE 9", "QUIT")
	c.expect(
		"+OK send PASS",
		"+OK maildrop has 3 messages (101 octets)",
		"+OK 3 101",
		"+OK 1 43",
		"+OK 22 octets", "Subject: two", "", "body", ".",
		"-ERR unknown command",
		"+OK message 1 deleted",
		"+OK unique-id listing follows", "2 uid-2", "3 uid-3", ".",
		"-ERR message 1 already deleted",
		"-ERR no such message",
		"+OK bye (2 messages left)",
	)
	c.expectEOF()
	calls := waitCalls(t, b, 1)
	if len(calls) == 0 || !reflect.DeepEqual(calls[0].Deleted, []string{"uid-1"}) || !reflect.DeepEqual(calls[0].Retrieved, []string{"uid-2"}) {
		t.Errorf("calls = %+v", calls)
	}
}

// TestPipelinedManyRetr pipelines many RETRs (each streamed with its own
// buffer) between short replies; the order must hold.
func TestPipelinedManyRetr(t *testing.T) {
	b := memback.New()
	b.AddUser("bob", "secret")
	const n = 50
	for i := 1; i <= n; i++ {
		b.Add("bob", fmt.Sprintf("u%d", i), []byte(fmt.Sprintf("Subject: %d\r\n\r\n%s\r\n", i, strings.Repeat("x", i*100))))
	}
	_, addr := startServer(t, testOptions(b))
	c := dial(t, addr)
	c.login()
	var cmds []string
	for i := 1; i <= n; i++ {
		cmds = append(cmds, fmt.Sprintf("RETR %d", i), fmt.Sprintf("LIST %d", i))
	}
	c.send(append(cmds, "QUIT")...)
	for i := 1; i <= n; i++ {
		body := fmt.Sprintf("Subject: %d\r\n\r\n%s\r\n", i, strings.Repeat("x", i*100))
		c.expect(fmt.Sprintf("+OK %d octets", len(body)))
		if got := c.body(); got != body {
			t.Fatalf("RETR %d body mismatch", i)
		}
		c.expect(fmt.Sprintf("+OK %d %d", i, len(body)))
	}
	c.expect("+OK bye (50 messages left)")
}

// TestArgumentErrors: every malformed message number or argument gets a
// clear -ERR and the session goes on.
func TestArgumentErrors(t *testing.T) {
	_, addr := startServer(t, testOptions(newBackend()))
	tests := []struct{ cmd, want string }{
		{"LIST 0", "-ERR no such message"},
		{"LIST 4", "-ERR no such message"},
		{"LIST 99999999999999999999999999", "-ERR no such message"},
		{"LIST x", "-ERR invalid message number"},
		{"LIST 1x", "-ERR invalid message number"},
		{"LIST -1", "-ERR invalid message number"},
		{"LIST +1", "-ERR invalid message number"},
		{"LIST 1 2", "-ERR usage: LIST [msg]"},
		{"LIST 1 ", "-ERR usage: LIST [msg]"},
		{"LIST  1", "-ERR usage: LIST [msg]"},
		{"UIDL 0", "-ERR no such message"},
		{"UIDL a", "-ERR invalid message number"},
		{"UIDL 1 1", "-ERR usage: UIDL [msg]"},
		{"RETR", "-ERR usage: RETR msg"},
		{"RETR 0", "-ERR no such message"},
		{"RETR 1 1", "-ERR usage: RETR msg"},
		{"RETR 1.0", "-ERR invalid message number"},
		{"DELE", "-ERR usage: DELE msg"},
		{"DELE 4", "-ERR no such message"},
		{"TOP 1", "-ERR usage: TOP msg lines"},
		{"TOP 1 x", "-ERR invalid number of lines"},
		{"TOP 1 -1", "-ERR invalid number of lines"},
		{"TOP 0 1", "-ERR no such message"},
		{"TOP 1 1 1", "-ERR usage: TOP msg lines"},
		{"STAT 1", "-ERR STAT takes no arguments"},
		{"NOOP x", "-ERR NOOP takes no arguments"},
		{"RSET 1", "-ERR RSET takes no arguments"},
		{"QUIT now", "-ERR QUIT takes no arguments"},
		{"CAPA x", "-ERR CAPA takes no arguments"},
		{"USER bob", "-ERR command not valid in this state"},
		{"PASS x", "-ERR command not valid in this state"},
		{"APOP bob 0123456789abcdef0123456789abcdef", "-ERR command not valid in this state"},
		{"XYZZY", "-ERR unknown command"},
		{"STLS", "-ERR unknown command"},
		{"LIST\x01", "-ERR syntax error: control character in command"},
		{" LIST", "-ERR syntax error: missing command keyword"},
	}
	// MaxErrors is 10: use fresh sessions in groups.
	for len(tests) > 0 {
		n := min(len(tests), 8)
		group := tests[:n]
		tests = tests[n:]
		c := dial(t, addr)
		c.login()
		for _, tt := range group {
			c.send(tt.cmd)
			if got := c.line(); got != tt.want {
				t.Errorf("%q: got %q, want %q", tt.cmd, got, tt.want)
			}
		}
		c.send("STAT", "QUIT")
		c.expect("+OK 3 101", "+OK bye (3 messages left)")
		c.expectEOF()
	}
}

// TestAuthorizationStateErrors: transaction commands before login, PASS
// before USER, APOP when not offered.
func TestAuthorizationStateErrors(t *testing.T) {
	_, addr := startServer(t, testOptions(newBackend()))
	c := dial(t, addr)
	transcript(t, c, `
		S: +OK pop.test POP3 server ready
		C: STAT
		S: -ERR command not valid in this state
		C: LIST
		S: -ERR command not valid in this state
		C: RETR 1
		S: -ERR command not valid in this state
		C: NOOP
		S: -ERR command not valid in this state
		C: PASS secret
		S: -ERR USER first
		C: USER
		S: -ERR usage: USER name
		C: APOP bob 0123456789abcdef0123456789abcdef
		S: -ERR APOP not supported
		C: USER bob
		S: +OK send PASS
		C: PASS
		S: -ERR usage: PASS password
		C: QUIT
		S: +OK bye
		EOF
	`)
}

// TestQuitInAuthorization: QUIT before login touches no maildrop.
func TestQuitInAuthorization(t *testing.T) {
	b := newBackend()
	_, addr := startServer(t, testOptions(b))
	c := dial(t, addr)
	transcript(t, c, `
		S: +OK pop.test POP3 server ready
		C: USER bob
		S: +OK send PASS
		C: QUIT
		S: +OK bye
		EOF
	`)
	if calls := b.Calls(); len(calls) != 0 {
		t.Errorf("calls = %+v, want none", calls)
	}
}

// TestPasswordWithSpaces: PASS takes the rest of the line (RFC 1939 §7).
func TestPasswordWithSpaces(t *testing.T) {
	b := memback.New()
	b.AddUser("ann", "two  words ")
	_, addr := startServer(t, testOptions(b))
	c := dial(t, addr)
	transcript(t, c, `
		S: +OK pop.test POP3 server ready
		C: user ann
		S: +OK send PASS
		C: pass two  words 
		S: +OK maildrop has 0 messages (0 octets)
		C: list
		S: +OK 0 messages (0 octets)
		S: .
		C: stat
		S: +OK 0 0
		C: quit
		S: +OK bye (0 messages left)
	`)
}
