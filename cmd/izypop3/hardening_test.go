package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/izyware/izypop3/internal/testkit"
)

// TestConfigHardeningKeys: the limit options work when they come from a
// --config file (each checked by what a client sees).
func TestConfigHardeningKeys(t *testing.T) {
	port := testkit.FreePort(t)
	cfg := writeFile(t, "izypop3.toml", `listen = "127.0.0.1"
port = `+strconv.Itoa(port)+`
password = "pw"
auth-fail-delay = "10ms"
max-conns-per-addr = 3
max-auth-failures = 2
login-max-time = "2s"
login-delay = "2m"
sasl-mechanisms = ["plain"]

[mimestore]
modhandler = "fake"
count = 1
`)
	startServer(t, port, "serverpop3", "--config", cfg)
	time.Sleep(100 * time.Millisecond) // startServer's probe connection is gone

	// sasl-mechanisms and login-delay: CAPA.
	c := dialPOP3(t, port)
	if l := c.cmd("CAPA"); !strings.HasPrefix(l, "+OK") {
		t.Fatalf("CAPA: %q", l)
	}
	caps := strings.ReplaceAll(c.body(), "\r\n", "|")
	if !strings.Contains(caps, "|SASL PLAIN|") || !strings.Contains(caps, "|LOGIN-DELAY 120|") {
		t.Errorf("CAPA %q: want SASL PLAIN (sasl-mechanisms) and LOGIN-DELAY 120 (login-delay)", caps)
	}

	// max-conns-per-addr: the fourth connection from 127.0.0.1 is refused.
	dialPOP3(t, port)
	dialPOP3(t, port)
	greet := dialPOP3(t, port).greeting
	if !strings.HasPrefix(greet, "-ERR [SYS/TEMP]") {
		t.Errorf("4th connection with max-conns-per-addr = 3: greeting %q, want -ERR [SYS/TEMP]", greet)
	}
	c.c.Close()
	time.Sleep(200 * time.Millisecond)

	// max-auth-failures: the connection is closed after the second failure.
	f := dialPOP3(t, port)
	f.cmd("USER alice")
	if l := f.cmd("PASS bad1"); !strings.HasPrefix(l, "-ERR [AUTH]") {
		t.Fatalf("PASS bad1: %q", l)
	}
	f.cmd("USER alice")
	f.cmd("PASS bad2")
	// A farewell line, then the end.
	if l, err := f.r.ReadString('\n'); err == nil && !strings.HasPrefix(l, "-ERR") {
		t.Errorf("after 2 failures with max-auth-failures = 2: %q", l)
	}
	io.WriteString(f.c, "NOOP\r\n")
	if l, err := f.r.ReadString('\n'); err == nil {
		t.Errorf("after 2 failures with max-auth-failures = 2: still answered %q", l)
	}
	f.c.Close()

	// login-max-time: a connection that keeps sending CAPA is cut after 2 s.
	time.Sleep(200 * time.Millisecond)
	s := dialPOP3(t, port)
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(io.Discard, s.r)
	}()
	for {
		select {
		case <-done:
			if d := time.Since(start); d < 1500*time.Millisecond || d > 6*time.Second {
				t.Errorf("login-max-time = 2s: cut after %v", d)
			}
			return
		case <-time.After(200 * time.Millisecond):
			io.WriteString(s.c, "CAPA\r\n")
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("login-max-time = 2s: a CAPA sender still connected after 10 s")
		}
	}
}

// TestPasswordLoginsLeaveNoFolders: with --password every name a client
// tries logs in; through the localfs plugin, names that never got mail
// leave no folder behind (3000 logins made 3000 folders before).
func TestPasswordLoginsLeaveNoFolders(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "alice"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "alice", "m1.eml"), []byte("Subject: x\r\n\r\nbody\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port := testkit.FreePort(t)
	startServer(t, port, "serverpop3", "--listen", "127.0.0.1", "--port", strconv.Itoa(port), "--password", "pw",
		"--auth-fail-delay", "10ms", "--modhandler", "localfs", "mimestore.path", root)
	for i := range 50 {
		r := pop3Session(t, port, fmt.Sprintf("USER guess%d", i), "PASS pw", "STAT", "QUIT")
		if !strings.HasPrefix(r[2], "+OK") || !strings.HasPrefix(r[3], "+OK 0 ") {
			t.Fatalf("login %d: %q", i, r)
		}
	}
	if r := pop3Session(t, port, "USER alice", "PASS pw", "STAT", "QUIT"); !strings.HasPrefix(r[3], "+OK 1 ") {
		t.Fatalf("alice: %q", r)
	}
	ents, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	if len(names) != 1 || names[0] != "alice" {
		t.Errorf("after 50 logins to new names and one to alice, ROOT holds %d entries: %v", len(names), names[:min(len(names), 5)])
	}
}
