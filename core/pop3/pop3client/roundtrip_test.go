package pop3client_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/izyware/izypop3/core/pop3"
	"github.com/izyware/izypop3/core/pop3/pop3client"
	"github.com/izyware/izypop3/core/pop3/pop3server"
	"github.com/izyware/izypop3/core/pop3/pop3server/memback"
	"github.com/izyware/izypop3/internal/testkit"
)

// startServer runs a pop3server over b on a loopback port.
func startServer(t *testing.T, b pop3server.Backend) string {
	t.Helper()
	srv := pop3server.New(&pop3server.Options{Backend: b, Hostname: "test.invalid", AuthFailDelay: -1})
	l := testkit.Listen(t)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, pop3server.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return l.Addr().String()
}

func TestRoundTripWithServer(t *testing.T) {
	b := memback.New()
	b.AddUser("alice", "secret")
	msgs := map[string]string{
		"uid-1": "Subject: one\r\n\r\nbody\r\n.dotted line\r\n",
		"uid-2": "Subject: two\n\nbare LF\n..two dots\nno final newline",
		"uid-3": "",
		"uid-4": "Subject: long\r\n\r\n" + strings.Repeat("0123456789", 30000) + "\r\n",
	}
	order := []string{"uid-1", "uid-2", "uid-3", "uid-4"}
	for _, uid := range order {
		b.Add("alice", uid, []byte(msgs[uid]))
	}
	b.SetAPOP(true)
	addr := startServer(t, b)

	opts := &pop3client.Options{Timeout: 10 * time.Second}
	c, err := pop3client.Dial(addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.APOPTimestamp() == "" {
		t.Fatal("no APOP timestamp in the greeting")
	}
	caps, err := c.Capa()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{pop3.CapTop, pop3.CapUIDL, pop3.CapUser, pop3.CapPipelining, pop3.CapRespCodes} {
		if !caps.Has(name) {
			t.Errorf("CAPA lacks %s: %v", name, caps)
		}
	}
	err = c.Login("alice", "wrong")
	if !errors.Is(err, &pop3.Error{Code: pop3.CodeAuth}) {
		t.Fatalf("wrong password: %v", err)
	}
	if err := c.APOP("alice", "secret"); err != nil {
		t.Fatal(err)
	}

	n, total, err := c.Stat()
	if err != nil || n != len(order) {
		t.Fatalf("Stat = %d, %d, %v", n, total, err)
	}
	list, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	uids, err := c.Uidl()
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for i, uid := range order {
		if uids[i].UID != uid || uids[i].Num != i+1 || list[i].Num != i+1 {
			t.Fatalf("message %d: list %v uidl %v", i+1, list[i], uids[i])
		}
		r, err := c.Retr(i + 1)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("RETR %d: %v", i+1, err)
		}
		r.Close()
		want := crlf(msgs[uid])
		if !bytes.Equal(got, []byte(want)) {
			t.Errorf("RETR %d = %.60q..., want %.60q...", i+1, got, want)
		}
		if int64(len(got)) != list[i].Size {
			t.Errorf("RETR %d: %d octets, LIST says %d", i+1, len(got), list[i].Size)
		}
		sum += list[i].Size
	}
	if sum != total {
		t.Errorf("STAT total %d, LIST sum %d", total, sum)
	}

	r, err := c.Top(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	top, _ := io.ReadAll(r)
	if string(top) != "Subject: one\r\n\r\n" {
		t.Errorf("TOP 1 0 = %q", top)
	}
	if mi, err := c.ListOne(2); err != nil || mi != list[1] {
		t.Errorf("ListOne(2) = %v, %v", mi, err)
	}
	if u, err := c.UidlOne(4); err != nil || u.UID != "uid-4" {
		t.Errorf("UidlOne(4) = %v, %v", u, err)
	}
	if err := c.Dele(1); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Retr(1); err == nil {
		t.Error("RETR of a deleted message succeeded")
	}
	if err := c.Rset(); err != nil {
		t.Fatal(err)
	}
	if err := c.Dele(2); err != nil {
		t.Fatal(err)
	}
	if err := c.Noop(); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	if got := b.UIDs("alice"); fmt.Sprint(got) != "[uid-1 uid-3 uid-4]" {
		t.Errorf("after QUIT the maildrop is %v", got)
	}
}

func TestRoundTripInUse(t *testing.T) {
	b := memback.New()
	b.AddUser("bob", "pw")
	addr := startServer(t, b)
	c1, err := pop3client.Dial(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	if err := c1.Login("bob", "pw"); err != nil {
		t.Fatal(err)
	}
	c2, err := pop3client.Dial(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.Login("bob", "pw"); !errors.Is(err, &pop3.Error{Code: pop3.CodeInUse}) {
		t.Fatalf("second login: %v, want IN-USE", err)
	}
}

// crlf converts line ends to CRLF and adds a final CRLF, as POP3 sends a
// message.
func crlf(s string) string {
	if s == "" {
		return ""
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\n", "\r\n")
	if !strings.HasSuffix(s, "\r\n") {
		s += "\r\n"
	}
	return s
}

// BenchmarkRetr measures RETR throughput through the real server over
// loopback: one 32 MiB message of 78-octet lines, some starting with ".".
func BenchmarkRetr(b *testing.B) {
	var msg bytes.Buffer
	msg.WriteString("Subject: big\r\n\r\n")
	line := strings.Repeat("x", 76) + "\r\n"
	for i := 0; msg.Len() < 32<<20; i++ {
		if i%10 == 0 {
			msg.WriteString("." + line[1:])
		} else {
			msg.WriteString(line)
		}
	}
	back := memback.New()
	back.AddUser("u", "p")
	back.Add("u", "big", msg.Bytes())
	srv := pop3server.New(&pop3server.Options{Backend: back, Hostname: "bench.invalid"})
	l := testkit.Listen(b)
	go srv.Serve(l)
	defer srv.Close()
	c, err := pop3client.Dial(l.Addr().String(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("u", "p"); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(msg.Len()))
	b.ResetTimer()
	for b.Loop() {
		r, err := c.Retr(1)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, r)
		if err != nil || n != int64(msg.Len()) {
			b.Fatalf("%d octets, %v", n, err)
		}
	}
}
