package pop3client

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/izyware/izypop3/core/pop3"
	"github.com/izyware/izypop3/internal/testkit"
)

// tcpTranscript is transcript over a real loopback TCP connection: unlike
// net.Pipe it buffers, as a pipelining client needs (it writes commands
// while the server writes replies).
func tcpTranscript(t *testing.T, s script, opts *Options) (*Client, <-chan error) {
	t.Helper()
	ln := testkit.Listen(t)
	acc := make(chan net.Conn, 1)
	go func() {
		sc, err := ln.Accept()
		if err != nil {
			close(acc)
			return
		}
		acc <- sc
	}()
	cc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc := <-acc
	if sc == nil {
		t.Fatal("accept failed")
	}
	done := runScript(sc, s)
	c, err := NewClient(cc, opts)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, done
}

// collect is a RetrFunc that records each message or error.
type collect struct {
	got []string
}

func (c *collect) fn(num int, body io.Reader, err error) error {
	if err != nil {
		c.got = append(c.got, "ERR "+err.Error())
		return nil
	}
	b, rerr := io.ReadAll(body)
	if rerr != nil {
		return rerr
	}
	c.got = append(c.got, string(b))
	return nil
}

func TestRetrEachPipelinesWithinWindow(t *testing.T) {
	// Window 2: two RETRs go out at once; each further one only after a
	// whole reply has been read. The server script checks that order.
	c, done := tcpTranscript(t, script{
		"S: +OK ready",
		"C: RETR 1",
		"C: RETR 2",
		"S: +OK 5 octets",
		"S: one",
		"S: .",
		"C: RETR 3",
		"S: -ERR [SYS/TEMP] cannot read 2",
		"C: RETR 4",
		"S: +OK",
		"S: ..dot",
		"S: .",
		"S: +OK",
		"R: bare\nlf\n.\n",
		"C: QUIT",
		"S: +OK bye",
	}, nil)
	var col collect
	if err := c.RetrEach([]int{1, 2, 3, 4}, 2, col.fn); err != nil {
		t.Fatal(err)
	}
	want := []string{"one\r\n", "ERR -ERR [SYS/TEMP] cannot read 2", ".dot\r\n", "bare\r\nlf\r\n"}
	if strings.Join(col.got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", col.got, want)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	wait(t, done)
}

func TestRetrEachWindowOneIsLockStep(t *testing.T) {
	c, done := tcpTranscript(t, script{
		"S: +OK ready",
		"C: RETR 7",
		"S: +OK",
		"S: a",
		"S: .",
		"C: RETR 9",
		"S: +OK",
		"S: b",
		"S: .",
		"C: QUIT",
		"S: +OK",
	}, nil)
	var col collect
	if err := c.RetrEach([]int{7, 9}, 0, col.fn); err != nil {
		t.Fatal(err)
	}
	if len(col.got) != 2 || col.got[0] != "a\r\n" || col.got[1] != "b\r\n" {
		t.Errorf("got %q", col.got)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	wait(t, done)
}

func TestRetrEachStopDrainsInFlight(t *testing.T) {
	// fn stops at message 1 without reading all of it; message 2 was
	// already asked for and is read and discarded; 3 is never asked for.
	c, done := tcpTranscript(t, script{
		"S: +OK ready",
		"C: RETR 1",
		"C: RETR 2",
		"S: +OK",
		"S: first line",
		"S: second line",
		"S: .",
		"S: +OK",
		"S: discarded",
		"S: .",
		"C: NOOP",
		"S: +OK",
	}, nil)
	stop := errors.New("stop")
	var calls []int
	err := c.RetrEach([]int{1, 2, 3}, 2, func(num int, body io.Reader, err error) error {
		calls = append(calls, num)
		b := make([]byte, 3)
		io.ReadFull(body, b)
		return stop
	})
	if err != stop {
		t.Fatalf("err = %v, want the stop error", err)
	}
	if len(calls) != 1 || calls[0] != 1 {
		t.Errorf("calls = %v", calls)
	}
	if err := c.Noop(); err != nil {
		t.Fatalf("client unusable after a stop: %v", err)
	}
	wait(t, done)
}

func TestRetrEachDropMidMessage(t *testing.T) {
	c, done := tcpTranscript(t, script{
		"S: +OK ready",
		"C: RETR 1",
		"C: RETR 2",
		"S: +OK",
		"S: partial",
		"CLOSE",
	}, nil)
	var bodyErr error
	err := c.RetrEach([]int{1, 2}, 2, func(num int, body io.Reader, err error) error {
		_, bodyErr = io.ReadAll(body)
		return bodyErr
	})
	if !errors.Is(bodyErr, io.ErrUnexpectedEOF) {
		t.Errorf("body error = %v, want io.ErrUnexpectedEOF", bodyErr)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("RetrEach = %v, want io.ErrUnexpectedEOF", err)
	}
	if err := c.Noop(); err == nil {
		t.Error("client usable after a dropped connection")
	}
	wait(t, done)
}

func TestRetrEachRejectsBadNumbers(t *testing.T) {
	c, done := tcpTranscript(t, script{"S: +OK ready"}, nil)
	if err := c.RetrEach([]int{1, 0}, 2, (&collect{}).fn); err == nil {
		t.Error("message number 0 accepted")
	}
	c.Close()
	wait(t, done)
}

func TestDeleEach(t *testing.T) {
	c, done := tcpTranscript(t, script{
		"S: +OK ready",
		"C: DELE 1",
		"C: DELE 2",
		"S: +OK",
		"C: DELE 5",
		"S: -ERR no such message",
		"S: +OK",
		"C: QUIT",
		"S: +OK",
	}, nil)
	errs, err := c.DeleEach([]int{1, 2, 5}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if errs[0] != nil || errs[2] != nil {
		t.Errorf("errs = %v", errs)
	}
	var pe *pop3.Error
	if !errors.As(errs[1], &pe) || pe.Text != "no such message" {
		t.Errorf("errs[1] = %v", errs[1])
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	wait(t, done)
}

func TestDebugTranscriptMasksSecrets(t *testing.T) {
	var dbg bytes.Buffer
	c, done := transcript(t, script{
		"S: +OK ready <1.2@host>",
		"C: USER alice",
		"S: +OK",
		"C: PASS s3cret pass",
		"S: +OK",
		"C: APOP alice 16d2cc78bc3226be7486dca25ff908d5",
		"S: -ERR [AUTH] no",
		"C: RETR 1",
		"S: +OK",
		"S: hello",
		"S: .",
		"C: QUIT",
		"S: +OK",
	}, &Options{Debug: &dbg})
	if err := c.Login("alice", "s3cret pass"); err != nil {
		t.Fatal(err)
	}
	c.APOP("alice", "tanstaaf")
	r, err := c.Retr(1)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(r)
	c.Quit()
	wait(t, done)
	out := dbg.String()
	for _, secret := range []string{"s3cret", "16d2cc78", "tanstaaf"} {
		if strings.Contains(out, secret) {
			t.Errorf("transcript shows a secret %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{"C: USER alice\n", "C: PASS ****\n", "C: APOP alice ****\n", "S: -ERR [AUTH] no\n",
		"S: (7 octets of message data)\n", "C: QUIT\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("transcript lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "hello") {
		t.Errorf("transcript shows message data:\n%s", out)
	}
}

func TestDebugTranscriptMasksAUTH(t *testing.T) {
	var dbg bytes.Buffer
	// PLAIN with its initial response on the AUTH line, then a mechanism
	// with a challenge and a response.
	c, done := transcript(t, script{
		"S: +OK ready",
		"C: AUTH PLAIN AGFsaWNlAHMzY3JldA==",
		"S: +OK",
		"C: AUTH X-TEST",
		"S: + Y2hhbGxlbmdl",
		"C: c2VjcmV0LXJlc3BvbnNl",
		"S: -ERR [AUTH] no",
		"C: QUIT",
		"S: +OK",
	}, &Options{Debug: &dbg})
	if err := c.Auth(testSASL{"PLAIN", []byte("\x00alice\x00s3cret"), nil}); err != nil {
		t.Fatal(err)
	}
	c.Auth(testSASL{"X-TEST", nil, []byte("secret-response")})
	c.Quit()
	wait(t, done)
	out := dbg.String()
	for _, secret := range []string{"AGFsaWNl", "c2VjcmV0LXJlc3BvbnNl"} {
		if strings.Contains(out, secret) {
			t.Errorf("transcript shows %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{"C: AUTH PLAIN ****\n", "C: AUTH X-TEST\n", "S: + Y2hhbGxlbmdl\n", "C: ****\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("transcript lacks %q:\n%s", want, out)
		}
	}
}

// testSASL is a one-step SASL client.
type testSASL struct {
	mech string
	ir   []byte
	resp []byte
}

func (s testSASL) Start() (string, []byte, error) { return s.mech, s.ir, nil }
func (s testSASL) Next(_ []byte) ([]byte, error)  { return s.resp, nil }
