package pop3server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/izyware/izypop3/core/pop3/pop3server"
	"github.com/izyware/izypop3/core/pop3/pop3server/memback"
	"github.com/izyware/izypop3/core/pop3/wire"
)

// sizeCases are stored messages whose transmitted form differs from the
// stored octets; wire is the exact RETR body including stuffing and
// terminator.
var sizeCases = []struct {
	name string
	data string
	wire string
}{
	{"crlf", "A: b\r\n\r\nbody\r\n", "A: b\r\n\r\nbody\r\n.\r\n"},
	{"bare LF", "A: b\n\nl1\nl2\n", "A: b\r\n\r\nl1\r\nl2\r\n.\r\n"},
	{"lone CR", "A: b\r\rl1\rl2\r", "A: b\r\n\r\nl1\r\nl2\r\n.\r\n"},
	{"mixed", "A: b\r\n\nl1\rl2\r\n", "A: b\r\n\r\nl1\r\nl2\r\n.\r\n"},
	{"no final newline", "A: b\r\n\r\nlast", "A: b\r\n\r\nlast\r\n.\r\n"},
	{"empty", "", ".\r\n"},
	{"dot lines", ".\r\n..\r\n.x\r\nx.\r\n.", "..\r\n...\r\n..x\r\nx.\r\n..\r\n.\r\n"},
	{"dot after bare LF", "A: b\n\n.\n.hidden\n", "A: b\r\n\r\n..\r\n..hidden\r\n.\r\n"},
	{"binary", "A: b\r\n\r\n\x00\x01\xfe\xff\r\n", "A: b\r\n\r\n\x00\x01\xfe\xff\r\n.\r\n"},
	{"terminator-like", "A\r\n.\r\nB\r\n", "A\r\n..\r\nB\r\n.\r\n"},
}

// TestListSizeEqualsRetrOctets: LIST and STAT report the octets as
// transmitted, equal to what RETR sends before stuffing; the wire form is
// exact (CRLF everywhere, dots stuffed, final CRLF added).
func TestListSizeEqualsRetrOctets(t *testing.T) {
	b := memback.New()
	b.AddUser("bob", "secret")
	var total int64
	for i, tc := range sizeCases {
		b.Add("bob", "m"+strconv.Itoa(i+1), []byte(tc.data))
		total += wire.Size([]byte(tc.data))
	}
	_, addr := startServer(t, testOptions(b))
	c := dial(t, addr)
	c.login()
	c.send("STAT")
	c.expect(fmt.Sprintf("+OK %d %d", len(sizeCases), total))
	for i, tc := range sizeCases {
		n := i + 1
		c.send(fmt.Sprintf("LIST %d", n))
		var num int
		var size int64
		if _, err := fmt.Sscanf(c.line(), "+OK %d %d", &num, &size); err != nil || num != n {
			t.Fatalf("%s: bad LIST reply", tc.name)
		}
		c.send(fmt.Sprintf("RETR %d", n))
		c.expect(fmt.Sprintf("+OK %d octets", size))
		raw := readRaw(t, c)
		if raw != tc.wire {
			t.Errorf("%s: RETR sent %q, want %q", tc.name, raw, tc.wire)
		}
		unstuffed, err := io.ReadAll(wire.NewDotReader(bufioReader(raw)))
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(unstuffed)) != size {
			t.Errorf("%s: LIST size %d, RETR octets %d", tc.name, size, len(unstuffed))
		}
	}
}

// readRaw reads a multi-line body up to and including its terminator,
// without unstuffing.
func readRaw(t *testing.T, c *client) string {
	t.Helper()
	var b strings.Builder
	for {
		l, err := c.br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading body: %v", err)
		}
		b.WriteString(l)
		if l == ".\r\n" {
			return b.String()
		}
	}
}

// TestTop covers TOP's edge cases (RFC 1939 §7): k=0, k within and beyond
// the body, a message without body, without blank line, with bare LF.
func TestTop(t *testing.T) {
	b := memback.New()
	b.AddUser("bob", "secret")
	b.Add("bob", "full", []byte("From: a\r\nSubject: s\r\n\r\nl1\r\n.l2\r\n\r\nl4\r\n"))
	b.Add("bob", "nobody", []byte("From: a\r\nSubject: s\r\n\r\n"))
	b.Add("bob", "noblank", []byte("From: a\r\nSubject: s\r\n"))
	b.Add("bob", "lf", []byte("From: a\n\nl1\nl2\n"))
	b.Add("bob", "nonl", []byte("From: a\r\n\r\nonly"))
	_, addr := startServer(t, testOptions(b))
	c := dial(t, addr)
	c.login()
	tests := []struct {
		cmd  string
		want string
	}{
		{"TOP 1 0", "From: a\r\nSubject: s\r\n\r\n"},
		{"TOP 1 1", "From: a\r\nSubject: s\r\n\r\nl1\r\n"},
		{"TOP 1 2", "From: a\r\nSubject: s\r\n\r\nl1\r\n.l2\r\n"},
		{"TOP 1 3", "From: a\r\nSubject: s\r\n\r\nl1\r\n.l2\r\n\r\n"},
		{"TOP 1 4", "From: a\r\nSubject: s\r\n\r\nl1\r\n.l2\r\n\r\nl4\r\n"},
		{"TOP 1 1000", "From: a\r\nSubject: s\r\n\r\nl1\r\n.l2\r\n\r\nl4\r\n"},
		{"TOP 1 99999999999999999999999999999", "From: a\r\nSubject: s\r\n\r\nl1\r\n.l2\r\n\r\nl4\r\n"},
		{"TOP 2 0", "From: a\r\nSubject: s\r\n\r\n"},
		{"TOP 2 5", "From: a\r\nSubject: s\r\n\r\n"},
		{"TOP 3 0", "From: a\r\nSubject: s\r\n"},
		{"TOP 3 5", "From: a\r\nSubject: s\r\n"},
		{"TOP 4 1", "From: a\r\n\r\nl1\r\n"},
		{"TOP 5 0", "From: a\r\n\r\n"},
		{"TOP 5 1", "From: a\r\n\r\nonly\r\n"},
	}
	for _, tt := range tests {
		c.send(tt.cmd)
		c.expect("+OK top of message follows")
		if got := c.body(); got != tt.want {
			t.Errorf("%s = %q, want %q", tt.cmd, got, tt.want)
		}
	}
	c.send("QUIT")
	c.expect("+OK bye (5 messages left)")
	if calls := waitCalls(t, b, 1); len(calls[0].Retrieved) != 0 {
		t.Errorf("TOP counted as retrieval: %+v", calls[0])
	}
}

// TestRetrLarge streams a message much larger than the stream buffers,
// with dots at chunk boundaries, and compares it octet for octet.
func TestRetrLarge(t *testing.T) {
	var msg bytes.Buffer
	msg.WriteString("Subject: big\r\n\r\n")
	for i := 0; msg.Len() < 3<<20; i++ {
		switch i % 4 {
		case 0:
			msg.WriteString(".leading dot " + strconv.Itoa(i) + "\r\n")
		case 1:
			msg.WriteString(strings.Repeat("y", i%997) + "\n")
		case 2:
			msg.WriteString("lone cr\r")
		default:
			msg.WriteString(".\r\n")
		}
	}
	b := memback.New()
	b.AddUser("bob", "secret")
	b.Add("bob", "big", msg.Bytes())
	_, addr := startServer(t, testOptions(b))
	c := dial(t, addr)
	c.login()
	c.send("RETR 1")
	size := wire.Size(msg.Bytes())
	c.expect(fmt.Sprintf("+OK %d octets", size))
	got := c.body()
	var want bytes.Buffer
	dw := wire.NewDotWriter(&want)
	dw.Write(msg.Bytes())
	dw.Close()
	wantBody, _ := io.ReadAll(wire.NewDotReader(bufioReader(want.String())))
	if int64(len(got)) != size || got != string(wantBody) {
		t.Fatalf("RETR of %d octets: got %d octets, equal=%v", size, len(got), got == string(wantBody))
	}
}

// TestOpenGetsMessageNumber: the backend is told the message number the
// client named (the maildrop order is the server's), for RETR and for TOP
// through Open; DELE does not renumber.
func TestOpenGetsMessageNumber(t *testing.T) {
	var opened []int
	hb := &hookBackend{Backend: newBackend(), wrap: func(mb pop3server.Mailbox) pop3server.Mailbox {
		return &hookMailbox{Mailbox: mb, open: func(ctx context.Context, n int) (io.ReadCloser, error) {
			opened = append(opened, n)
			return mb.Open(ctx, n)
		}}
	}}
	_, addr := startServer(t, testOptions(hb))
	c := dial(t, addr)
	c.login()
	c.send("RETR 2")
	c.expect("+OK 22 octets")
	if got := c.body(); got != "Subject: two\r\n\r\nbody\r\n" {
		t.Errorf("RETR 2 = %q", got)
	}
	c.send("DELE 1")
	c.line()
	c.send("TOP 3 0")
	c.expect("+OK top of message follows")
	c.body()
	c.send("RETR 3")
	c.line()
	c.body()
	c.send("QUIT")
	c.line()
	if want := []int{2, 3, 3}; fmt.Sprint(opened) != fmt.Sprint(want) {
		t.Errorf("Open got message numbers %v, want %v", opened, want)
	}
}
