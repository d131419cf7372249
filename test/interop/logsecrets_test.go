package interop

import (
	"bufio"
	"crypto/hmac"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLogsHoldNoSecrets runs full sessions against izypop3 serverpop3 at
// every log level, the store's debug log on, and greps what it logged:
// no password (also one typed into USER, as a user may do by mistake), no
// token, no AUTH payload (regression: a password typed into USER was
// logged at INFO as user=...).
func TestLogsHoldNoSecrets(t *testing.T) {
	needBinary(t, "izypop3-store-fake")
	const (
		password = "Pw-Zebra-7c1e"
		typedPw  = "Typed-Pa55-Q4"
		wrongPw  = "Wrong-Pa55-K8"
	)
	dir := t.TempDir()
	check := filepath.Join(dir, "check-token")
	script := "#!/bin/sh\nread user\nread token\n[ \"$token\" = " + goodToken + " ] || exit 1\n"
	if err := os.WriteFile(check, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, level := range []string{"trace", "debug", "info", "warn", "error"} {
		t.Run(level, func(t *testing.T) {
			args := append(fakeArgs(), "--password", password, "--log-level", level, "--log-format", "json",
				"--mimestore.verbose=true", "--oauth-check-command", check,
				"--auth-fail-delay", "50ms", "--max-auth-fail-delay", "50ms")
			srv := startIzypop3Args(t, args)
			addr := fmt.Sprintf("127.0.0.1:%d", srv.Port)
			var sent []string // every secret or payload that crossed the wire

			s := dialSession(t, addr)
			s.cmd("USER "+typedPw, "+OK")
			s.cmd("PASS "+wrongPw, "-ERR [AUTH]")
			plainBad := b64("\x00alice\x00" + wrongPw)
			s.cmd("AUTH PLAIN "+plainBad, "-ERR [AUTH]")
			sent = append(sent, typedPw, wrongPw, plainBad)
			s.close()

			s = dialSession(t, addr)
			s.cmd("AUTH LOGIN", "+ ")
			s.cmd(b64("alice"), "+ ")
			s.cmd(b64(password), "+OK")
			s.cmd("RETR 1", "+OK")
			s.body()
			s.cmd("QUIT", "+OK")
			s.close()
			sent = append(sent, password, b64(password))

			s = dialSession(t, addr)
			chal := s.cmd("AUTH CRAM-MD5", "+ ")
			c, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(chal, "+ "))
			if err != nil {
				t.Fatalf("CRAM-MD5 challenge %q: %v", chal, err)
			}
			mac := hmac.New(md5.New, []byte(password))
			mac.Write(c)
			digest := hex.EncodeToString(mac.Sum(nil))
			cram := b64("alice " + digest)
			s.cmd(cram, "+OK")
			s.cmd("QUIT", "+OK")
			s.close()
			sent = append(sent, digest, cram)

			s = dialSession(t, addr)
			bearerBad := b64("n,a=alice,\x01auth=Bearer " + badToken + "\x01\x01")
			if l := s.cmd("AUTH OAUTHBEARER "+bearerBad, ""); strings.HasPrefix(l, "+ ") {
				s.cmd("AQ==", "-ERR [AUTH]") // RFC 7628 §3.2.3: the client's dummy response to the error challenge
			} else if !strings.HasPrefix(l, "-ERR [AUTH]") {
				t.Fatalf("AUTH OAUTHBEARER with a bad token: %q", l)
			}
			xoauth := b64("user=alice\x01auth=Bearer " + goodToken + "\x01\x01")
			s.cmd("AUTH XOAUTH2 "+xoauth, "+OK")
			s.cmd("QUIT", "+OK")
			s.close()
			sent = append(sent, badToken, goodToken, bearerBad, xoauth)

			srv.stop(t)
			logs := srv.out.String()
			if level == "trace" && !strings.Contains(logs, `"cmd":"PASS"`) {
				t.Errorf("no per-command log at trace level: is the test still looking at the right log?\n%s", logs)
			}
			for _, secret := range sent {
				if strings.Contains(logs, secret) {
					t.Errorf("the %s log holds %q:\n%s", level, secret, logs)
				}
			}
		})
	}
}

// rawSession is a POP3 conversation line by line.
type rawSession struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialSession(t *testing.T, addr string) *rawSession {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(peerTimeout))
	s := &rawSession{t: t, c: c, r: bufio.NewReader(c)}
	s.line("+OK")
	return s
}

// line reads one reply line and checks it starts with want.
func (s *rawSession) line(want string) string {
	s.t.Helper()
	l, err := s.r.ReadString('\n')
	if err != nil {
		s.t.Fatalf("reading a reply: %v", err)
	}
	l = strings.TrimRight(l, "\r\n")
	if !strings.HasPrefix(l, want) {
		s.t.Fatalf("reply %q, want %q...", l, want)
	}
	return l
}

// cmd sends line and returns the reply, checked to start with want.
func (s *rawSession) cmd(line, want string) string {
	s.t.Helper()
	if _, err := fmt.Fprintf(s.c, "%s\r\n", line); err != nil {
		s.t.Fatal(err)
	}
	return s.line(want)
}

// body reads a multi-line block up to its terminating ".".
func (s *rawSession) body() {
	s.t.Helper()
	for {
		l, err := s.r.ReadString('\n')
		if err != nil {
			s.t.Fatalf("reading a block: %v", err)
		}
		if l == ".\r\n" {
			return
		}
	}
}

func (s *rawSession) close() { s.c.Close() }
