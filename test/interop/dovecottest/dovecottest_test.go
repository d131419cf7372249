package dovecottest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// TestStartDeliverRetr starts Dovecot, stores one message by file copy and
// one through dovecot-lda, and reads both back over POP3.
func TestStartDeliverRetr(t *testing.T) {
	if err := Available(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and %v", err)
		}
		t.Skipf("SKIPPING: %v", err)
	}
	s, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	msg1 := "From: a@example.invalid\r\nSubject: one\r\n\r\n.dot line\r\nbody\r\n"
	if err := s.WriteMaildir("alice", "1.1.test", []byte(msg1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Deliver(context.Background(), "alice", []byte("From: b@example.invalid\nSubject: two\n\nbody two\n")); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	line := func() string {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read: %v\n%s", err, s.Log())
		}
		return strings.TrimRight(l, "\r\n")
	}
	cmd := func(format string, a ...any) string {
		fmt.Fprintf(c, format+"\r\n", a...)
		l := line()
		if !strings.HasPrefix(l, "+OK") {
			t.Fatalf("%s: %s\n%s", format, l, s.Log())
		}
		return l
	}
	line()
	cmd("USER alice")
	cmd("PASS %s", s.Password)
	if got := cmd("STAT"); !strings.HasPrefix(got, "+OK 2 ") {
		t.Fatalf("STAT = %q", got)
	}
	// Dovecot numbers new/ in its own order: compare as a set.
	got := map[string]bool{}
	for n := 1; n <= 2; n++ {
		cmd("RETR %d", n)
		var body []string
		for l := line(); l != "."; l = line() {
			body = append(body, l)
		}
		got[strings.Join(body, "|")] = true
	}
	for _, want := range []string{
		"From: a@example.invalid|Subject: one||..dot line|body",
		"From: b@example.invalid|Subject: two||body two",
	} {
		if !got[want] {
			t.Errorf("no RETR gave %q; got %v", want, got)
		}
	}
	cmd("QUIT")
}
