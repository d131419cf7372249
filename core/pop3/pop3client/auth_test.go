package pop3client

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/izyware/izypop3/core/pop3"
)

// scriptedSASL answers challenges from a fixed list and records them.
type scriptedSASL struct {
	mech       string
	ir         []byte
	responses  [][]byte
	challenges []string
	fail       error
}

func (s *scriptedSASL) Start() (string, []byte, error) { return s.mech, s.ir, nil }

func (s *scriptedSASL) Next(ch []byte) ([]byte, error) {
	s.challenges = append(s.challenges, string(ch))
	if s.fail != nil {
		return nil, s.fail
	}
	if len(s.responses) == 0 {
		return nil, errors.New("unexpected challenge")
	}
	r := s.responses[0]
	s.responses = s.responses[1:]
	return r, nil
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestAuthInitialResponse(t *testing.T) {
	c, done := transcript(t, script{
		"S: +OK hi",
		"C: AUTH PLAIN " + b64("\x00bob\x00pw"),
		"S: +OK logged in",
	}, nil)
	if err := c.Auth(&scriptedSASL{mech: "PLAIN", ir: []byte("\x00bob\x00pw")}); err != nil {
		t.Fatal(err)
	}
	wait(t, done)
}

func TestAuthEmptyInitialResponse(t *testing.T) {
	c, done := transcript(t, script{
		"S: +OK hi",
		"C: AUTH X =",
		"S: + " + b64("more"),
		"C: " + b64("r1"),
		"S: +",
		"C: ",
		"S: +OK",
	}, nil)
	a := &scriptedSASL{mech: "X", ir: []byte{}, responses: [][]byte{[]byte("r1"), {}}}
	if err := c.Auth(a); err != nil {
		t.Fatal(err)
	}
	if strings.Join(a.challenges, "|") != "more|" {
		t.Errorf("challenges %q", a.challenges)
	}
	wait(t, done)
}

func TestAuthNoInitialResponse(t *testing.T) {
	c, done := transcript(t, script{
		"S: +OK hi",
		"C: AUTH CRAM-MD5",
		"S: + " + b64("<1.2@h>"),
		"C: " + b64("bob digest"),
		"S: -ERR [AUTH] no",
	}, nil)
	err := c.Auth(&scriptedSASL{mech: "CRAM-MD5", responses: [][]byte{[]byte("bob digest")}})
	if !errors.Is(err, &pop3.Error{Code: pop3.CodeAuth}) {
		t.Fatalf("err = %v, want -ERR [AUTH]", err)
	}
	wait(t, done)
	// A refusal is not fatal.
	if c.err != nil {
		t.Fatalf("client unusable after a refusal: %v", c.err)
	}
}

// TestAuthLongInitialResponse: an initial response that would make the
// AUTH line longer than 255 octets is sent after an empty challenge.
func TestAuthLongInitialResponse(t *testing.T) {
	ir := strings.Repeat("t", 300)
	c, done := transcript(t, script{
		"S: +OK hi",
		"C: AUTH XOAUTH2",
		"S: + ",
		"C: " + b64(ir),
		"S: +OK",
	}, nil)
	if err := c.Auth(&scriptedSASL{mech: "XOAUTH2", ir: []byte(ir)}); err != nil {
		t.Fatal(err)
	}
	wait(t, done)
}

// TestAuthCancel: a mechanism that gives up makes the client send "*".
func TestAuthCancel(t *testing.T) {
	giveUp := errors.New("server not verified")
	c, done := transcript(t, script{
		"S: +OK hi",
		"C: AUTH SCRAM-SHA-256 " + b64("n,,n=bob,r=x"),
		"S: + " + b64("bogus"),
		"C: *",
		"S: -ERR authentication cancelled",
	}, nil)
	err := c.Auth(&scriptedSASL{mech: "SCRAM-SHA-256", ir: []byte("n,,n=bob,r=x"), fail: giveUp})
	if !errors.Is(err, giveUp) {
		t.Fatalf("err = %v, want the mechanism's error", err)
	}
	wait(t, done)
}

func TestAuthBadChallenge(t *testing.T) {
	c, done := transcript(t, script{
		"S: +OK hi",
		"C: AUTH X",
		"S: + !!!not base64",
		"C: *",
		"S: -ERR cancelled",
	}, nil)
	err := c.Auth(&scriptedSASL{mech: "X"})
	if !errors.Is(err, ErrProtocol) {
		t.Fatalf("err = %v, want ErrProtocol", err)
	}
	wait(t, done)
}

func TestAuthBadMechanism(t *testing.T) {
	c, _ := transcript(t, script{"S: +OK hi"}, nil)
	if err := c.Auth(&scriptedSASL{mech: "A B"}); err == nil {
		t.Fatal("mechanism with a space accepted")
	}
}
