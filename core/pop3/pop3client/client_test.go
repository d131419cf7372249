package pop3client

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/izyware/izypop3/core/pop3"
)

// A script is a server transcript, one step per entry:
//
//	"S: text"  the server sends text + CRLF
//	"R: bytes" the server sends bytes as they are (no line end added)
//	"C: text"  the server reads one line and expects exactly text
//	"CLOSE"    the server closes the connection
//
// The connection is closed after the last step.
type script []string

// serve runs s on the server side of a pipe and returns the client side and
// a channel that delivers the server's verdict when the script is done.
func serve(t *testing.T, s script) (net.Conn, <-chan error) {
	t.Helper()
	cc, sc := net.Pipe()
	done := runScript(sc, s)
	t.Cleanup(func() { cc.Close() })
	return cc, done
}

// runScript plays s on the server side sc of a connection.
func runScript(sc net.Conn, s script) <-chan error {
	done := make(chan error, 1)
	go func() {
		defer sc.Close()
		br := bufio.NewReader(sc)
		for i, step := range s {
			var err error
			switch {
			case strings.HasPrefix(step, "S: "):
				_, err = io.WriteString(sc, step[3:]+"\r\n")
			case strings.HasPrefix(step, "R: "):
				_, err = io.WriteString(sc, step[3:])
			case strings.HasPrefix(step, "C: "):
				var line string
				line, err = br.ReadString('\n')
				if err == nil && line != step[3:]+"\r\n" {
					err = errors.New("got " + strings.TrimRight(line, "\r\n"))
				}
			case step == "CLOSE":
				sc.Close()
			default:
				err = errors.New("bad step")
			}
			if err != nil {
				done <- fmt.Errorf("step %d %.40q: %w", i, step, err)
				return
			}
		}
		done <- nil
	}()
	return done
}

// transcript connects a client to a server running s.
func transcript(t *testing.T, s script, opts *Options) (*Client, <-chan error) {
	t.Helper()
	conn, done := serve(t, s)
	c, err := NewClient(conn, opts)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c, done
}

func wait(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("server: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server script did not finish")
	}
}

func wantPOP3Error(t *testing.T, err error, code string) *pop3.Error {
	t.Helper()
	var pe *pop3.Error
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v (%T), want *pop3.Error", err, err)
	}
	if pe.Code != code {
		t.Fatalf("code = %q, want %q (%v)", pe.Code, code, pe)
	}
	return pe
}

func TestSessionTranscript(t *testing.T) {
	c, done := transcript(t, script{
		"S: +OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>",
		"C: CAPA",
		"S: +OK Capability list follows",
		"S: TOP",
		"S: USER",
		"S: SASL PLAIN LOGIN",
		"S: resp-codes",
		"S: .",
		"C: USER mrose",
		"S: +OK",
		"C: PASS wrong pass",
		"S: -ERR [AUTH] invalid password",
		"C: APOP mrose c4c9334bac560ecc979e58001b3e22fb",
		"S: +OK maildrop has 2 messages (320 octets)",
		"C: STAT",
		"S: +OK 2 320",
		"C: LIST",
		"S: +OK 2 messages (320 octets)",
		"S: 1 120",
		"S: 2 200 extra words",
		"S: .",
		"C: LIST 2",
		"S: +OK 2 200",
		"C: LIST 3",
		"S: -ERR no such message, only 2 messages in maildrop",
		"C: UIDL",
		"S: +OK",
		"S: 1 whqtswO00WBw418f9t5JxYwZ",
		"S: 2 QhdPYR:00WBw1Ph7x7",
		"S: .",
		"C: UIDL 2",
		"S: +OK 2 QhdPYR:00WBw1Ph7x7",
		"C: DELE 1",
		"S: +OK message 1 deleted",
		"C: RSET",
		"S: +OK",
		"C: NOOP",
		"S: +OK",
		"C: DELE 2",
		"S: +OK",
		"C: QUIT",
		"S: +OK dewey POP3 server signing off (maildrop empty)",
	}, nil)

	if got := c.APOPTimestamp(); got != "<1896.697170952@dbc.mtview.ca.us>" {
		t.Errorf("timestamp = %q", got)
	}
	if got := c.Greeting(); !strings.HasPrefix(got, "POP3 server ready") {
		t.Errorf("greeting = %q", got)
	}
	caps, err := c.Capa()
	if err != nil {
		t.Fatal(err)
	}
	if !caps.Has("top") || !caps.Has("RESP-CODES") || caps.Has("UIDL") {
		t.Errorf("caps = %v", caps)
	}
	if got := caps["SASL"]; !reflect.DeepEqual(got, []string{"PLAIN", "LOGIN"}) {
		t.Errorf("SASL = %v", got)
	}
	// Login fails at PASS; the session goes on.
	wantPOP3Error(t, c.Login("mrose", "wrong pass"), pop3.CodeAuth)
	// The RFC 1939 §7 example digest.
	if err := c.APOP("mrose", "tanstaaf"); err != nil {
		t.Fatal(err)
	}
	n, size, err := c.Stat()
	if err != nil || n != 2 || size != 320 {
		t.Fatalf("Stat = %d, %d, %v", n, size, err)
	}
	list, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	if want := []MessageInfo{{1, 120}, {2, 200}}; !reflect.DeepEqual(list, want) {
		t.Errorf("List = %v, want %v", list, want)
	}
	if mi, err := c.ListOne(2); err != nil || mi != (MessageInfo{2, 200}) {
		t.Errorf("ListOne(2) = %v, %v", mi, err)
	}
	pe := wantPOP3Error(t, func() error { _, err := c.ListOne(3); return err }(), "")
	if pe.Text != "no such message, only 2 messages in maildrop" {
		t.Errorf("text = %q", pe.Text)
	}
	uids, err := c.Uidl()
	if err != nil {
		t.Fatal(err)
	}
	if want := []MessageUID{{1, "whqtswO00WBw418f9t5JxYwZ"}, {2, "QhdPYR:00WBw1Ph7x7"}}; !reflect.DeepEqual(uids, want) {
		t.Errorf("Uidl = %v", uids)
	}
	if u, err := c.UidlOne(2); err != nil || u != (MessageUID{2, "QhdPYR:00WBw1Ph7x7"}) {
		t.Errorf("UidlOne = %v, %v", u, err)
	}
	for _, f := range []func() error{func() error { return c.Dele(1) }, c.Rset, c.Noop, func() error { return c.Dele(2) }, c.Quit} {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
	wait(t, done)
	if err := c.Noop(); !errors.Is(err, ErrClosed) {
		t.Errorf("Noop after Quit = %v, want ErrClosed", err)
	}
}

func TestRetrUnstuffs(t *testing.T) {
	c, done := transcript(t, script{
		"S: +OK hi",
		"C: RETR 1",
		"S: +OK 99 octets",
		"S: Subject: x",
		"S: ",
		"S: ..leading dot",
		"S: .",
		"C: RETR 2",
		"S: +OK",
		"R: bare\nlf\n..dot\n.\n",
		"C: TOP 1 0",
		"S: +OK",
		"R: .\rcr\r\n.x\r\n.\r\n",
		"C: RETR 3",
		"S: +OK",
		"S: .",
		"C: QUIT",
		"S: +OK",
	}, nil)
	read := func(r io.ReadCloser, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("ReadAll: %v", err)
		}
		if err := r.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		return string(b)
	}
	if got, want := read(c.Retr(1)), "Subject: x\r\n\r\n.leading dot\r\n"; got != want {
		t.Errorf("RETR 1 = %q, want %q", got, want)
	}
	if got, want := read(c.Retr(2)), "bare\r\nlf\r\n.dot\r\n"; got != want {
		t.Errorf("RETR 2 = %q, want %q", got, want)
	}
	if got, want := read(c.Top(1, 0)), "\rcr\r\nx\r\n"; got != want {
		t.Errorf("TOP = %q, want %q", got, want)
	}
	if got := read(c.Retr(3)); got != "" {
		t.Errorf("RETR 3 = %q, want empty", got)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	wait(t, done)
}

func TestRetrUnreadIsDrained(t *testing.T) {
	c, done := transcript(t, script{
		"S: +OK",
		"C: RETR 1",
		"S: +OK",
		"S: line one",
		"S: line two",
		"S: .",
		"C: RETR 2",
		"S: +OK",
		"S: abc",
		"S: .",
		"C: NOOP",
		"S: +OK",
	}, nil)
	r, err := c.Retr(1)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 3)
	if _, err := io.ReadFull(r, buf); err != nil {
		t.Fatal(err)
	}
	r.Close() // drains
	if _, err := r.Read(buf); err == nil {
		t.Error("Read after Close succeeded")
	}
	if _, err := c.Retr(2); err != nil { // never read at all
		t.Fatal(err)
	}
	if err := c.Noop(); err != nil { // drains RETR 2 first
		t.Fatal(err)
	}
	wait(t, done)
}

func TestRetrConnectionDropped(t *testing.T) {
	c, done := transcript(t, script{
		"S: +OK",
		"C: RETR 1",
		"S: +OK",
		"S: partial line one",
		"R: partial",
	}, nil)
	r, err := c.Retr(1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("ReadAll = %q, %v; want io.ErrUnexpectedEOF", b, err)
	}
	if string(b) != "partial line one\r\npartial" {
		t.Errorf("got %q", b)
	}
	wait(t, done)
	if err := c.Noop(); err == nil {
		t.Error("Noop after a broken RETR succeeded")
	}
}

func TestNegativeGreeting(t *testing.T) {
	conn, done := serve(t, script{"S: -ERR [SYS/TEMP] too busy"})
	_, err := NewClient(conn, nil)
	pe := wantPOP3Error(t, err, pop3.CodeSysTemp)
	if pe.Text != "too busy" {
		t.Errorf("text = %q", pe.Text)
	}
	wait(t, done)
}

func TestProtocolErrors(t *testing.T) {
	tests := []struct {
		name string
		s    script
		call func(c *Client) error
	}{
		{"garbage status", script{"S: +OK", "C: NOOP", "S: * OK imap?"}, (*Client).Noop},
		{"long status", script{"S: +OK", "C: NOOP", "S: +OK " + strings.Repeat("x", MaxReplyLine)}, (*Client).Noop},
		{"huge status", script{"S: +OK", "C: NOOP", "S: +OK " + strings.Repeat("x", 2*readBufferSize)}, (*Client).Noop},
		{"bad stat", script{"S: +OK", "C: STAT", "S: +OK lots"}, func(c *Client) error { _, _, err := c.Stat(); return err }},
		{"bad list line", script{"S: +OK", "C: LIST", "S: +OK", "S: 1", "S: ."}, func(c *Client) error { _, err := c.List(); return err }},
		{"bad uidl line", script{"S: +OK", "C: UIDL", "S: +OK", "S: x y", "S: ."}, func(c *Client) error { _, err := c.Uidl(); return err }},
		{"long data line", script{"S: +OK", "C: RETR 1", "S: +OK", "S: " + strings.Repeat("y", 3000), "S: ."}, func(c *Client) error {
			r, err := c.Retr(1)
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, r)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, _ := serve(t, tt.s)
			c, err := NewClient(conn, &Options{MaxDataLine: 2048, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			err = tt.call(c)
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("err = %v, want ErrProtocol", err)
			}
			if err2 := c.Noop(); !errors.Is(err2, ErrProtocol) {
				t.Errorf("next call = %v, want the sticky error", err2)
			}
		})
	}
}

func TestDataLineLimitExact(t *testing.T) {
	line := strings.Repeat("z", 2048)
	c, done := transcript(t, script{"S: +OK", "C: RETR 1", "S: +OK", "S: " + line, "R: " + line + "\n", "S: ."}, &Options{MaxDataLine: 2048})
	r, err := c.Retr(1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != line+"\r\n"+line+"\r\n" { // bare LF comes out as CRLF
		t.Errorf("got %d octets", len(b))
	}
	wait(t, done)
}

func TestTimeout(t *testing.T) {
	c, _ := transcript(t, script{"S: +OK", "C: NOOP", "C: never"}, &Options{Timeout: 50 * time.Millisecond})
	start := time.Now()
	err := c.Noop()
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestArgumentInjection(t *testing.T) {
	c, done := transcript(t, script{"S: +OK <a@b>", "C: NOOP", "S: +OK"}, nil)
	if err := c.User("bob\r\nDELE 1"); err == nil {
		t.Error("USER with CRLF accepted")
	}
	if err := c.Pass("x\ny"); err == nil {
		t.Error("PASS with LF accepted")
	}
	if err := c.Login("bob", "x\x00"); err == nil {
		t.Error("Login with NUL accepted")
	}
	if err := c.APOP("bob smith", "x"); err == nil {
		t.Error("APOP with a space in the user accepted")
	}
	if err := c.Dele(0); err == nil {
		t.Error("DELE 0 accepted")
	}
	if _, err := c.Top(1, -1); err == nil {
		t.Error("TOP 1 -1 accepted")
	}
	if err := c.Noop(); err != nil { // nothing above reached the wire
		t.Fatal(err)
	}
	wait(t, done)
}

func TestAPOPWithoutTimestamp(t *testing.T) {
	c, _ := transcript(t, script{"S: +OK ready"}, nil)
	if c.APOPTimestamp() != "" {
		t.Fatalf("timestamp = %q", c.APOPTimestamp())
	}
	if err := c.APOP("u", "p"); err == nil {
		t.Error("APOP without a timestamp succeeded")
	}
}

func TestAPOPTimestamp(t *testing.T) {
	tests := map[string]string{
		"ready <1.2@host>":        "<1.2@host>",
		"<a@b> ready":             "<a@b>",
		"ready <>":                "",
		"ready <a b@host>":        "",
		"ready <unterminated":     "",
		"ready > <x@y>":           "<x@y>",
		"<x@y> and <second@host>": "<x@y>",
	}
	for in, want := range tests {
		if got := apopTimestamp(in); got != want {
			t.Errorf("apopTimestamp(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseStatus(t *testing.T) {
	tests := []struct {
		line     string
		ok       bool
		text     string
		code     string
		protocol bool
	}{
		{"+OK", true, "", "", false},
		{"+OK hello", true, "hello", "", false},
		{"+ok  hello", true, "hello", "", false},
		{"-ERR", false, "", "", false},
		{"-ERR bad", false, "bad", "", false},
		{"-ERR [IN-USE] locked", false, "locked", "IN-USE", false},
		{"-ERR [SYS/TEMP]", false, "", "SYS/TEMP", false},
		{"-err [AUTH] no", false, "no", "AUTH", false},
		{"-ERR [not a code] x", false, "[not a code] x", "", false},
		{"+OKAY", false, "", "", true},
		{"-ERROR", false, "", "", true},
		{"", false, "", "", true},
		{"+ go ahead", false, "", "", true},
		{"* OK", false, "", "", true},
	}
	for _, tt := range tests {
		text, err := parseStatus(tt.line)
		switch {
		case tt.ok:
			if err != nil || text != tt.text {
				t.Errorf("parseStatus(%q) = %q, %v; want %q", tt.line, text, err, tt.text)
			}
		case tt.protocol:
			if !errors.Is(err, ErrProtocol) {
				t.Errorf("parseStatus(%q) = %v; want ErrProtocol", tt.line, err)
			}
		default:
			var pe *pop3.Error
			if !errors.As(err, &pe) || pe.Code != tt.code || pe.Text != tt.text {
				t.Errorf("parseStatus(%q) = %#v; want code %q text %q", tt.line, err, tt.code, tt.text)
			}
		}
	}
}
