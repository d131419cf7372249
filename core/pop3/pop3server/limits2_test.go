package pop3server_test

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/izyware/izypop3/core/pop3/pop3server/memback"
	"github.com/izyware/izypop3/internal/testkit"
)

// TestMinSendRate (regression: the write deadline was reset by every
// write, so a client reading a RETR as a trickle kept its stream, its
// buffers and the store's stream for as long as it liked).
func TestMinSendRate(t *testing.T) {
	back := memback.New()
	back.AddUser("bob", "secret")
	big := strings.Repeat("0123456789abcdef\r\n", 24<<20/18) // 24 MiB
	back.Add("bob", "u1", []byte(big))
	opts := testOptions(back)
	opts.WriteTimeout = 3 * time.Second
	opts.MinSendRate = 8 << 20 // 24 MiB must be out within 3 s + 3 s
	var logs testkit.SyncBuffer
	opts.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	_, addr := startServer(t, opts)

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(128 << 10)
	br := bufio.NewReaderSize(c, 32<<10)
	io.WriteString(c, "USER bob\r\nPASS secret\r\nRETR 1\r\n")
	for range 3 {
		if _, err := br.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	// Read 32 KiB every 20 ms (at most 1.6 MiB/s: the message in 15 s or
	// more, what the socket buffers hold aside), each write progressing
	// well within WriteTimeout.
	start := time.Now()
	done := make(chan int)
	go func() {
		buf := make([]byte, 32<<10)
		got := 0
		c.SetReadDeadline(start.Add(30 * time.Second))
		for {
			n, err := br.Read(buf)
			got += n
			if err != nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		done <- got
	}()
	// The server ends the session (what the socket's buffers hold may
	// still trickle to the client after that).
	for !strings.Contains(logs.String(), "session ended") {
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("a trickle reader still served after %v, want cut after about 6 s\n%s", d, logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	d := time.Since(start)
	if !strings.Contains(logs.String(), "write failed while sending message") {
		t.Errorf("the cut is not logged:\n%s", logs.String())
	}
	c.Close()
	if got := <-done; got >= len(big) {
		t.Fatalf("the whole message (%d octets) was sent at a trickle", got)
	}
	if d < 4*time.Second {
		t.Errorf("session ended after %v, before its deadline (6 s)\n%s", d, logs.String())
	}
}

// TestSTLSHandshakeTimeout: a client that sends STLS and then nothing, or
// half a ClientHello, is disconnected within TLSHandshakeTimeout.
func TestSTLSHandshakeTimeout(t *testing.T) {
	serverTLS, _ := testkit.TLSConfigs(t, testHost)
	opts := testOptions(newBackend())
	opts.TLSConfig = serverTLS
	opts.TLSHandshakeTimeout = 300 * time.Millisecond
	_, addr := startServer(t, opts)
	for _, send := range []string{"", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if l, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(l, "+OK") {
			t.Fatalf("greeting %q, %v", l, err)
		}
		io.WriteString(c, "STLS\r\n")
		if l, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(l, "+OK") {
			t.Fatalf("STLS answered %q, %v", l, err)
		}
		c.Write([]byte(send))
		start := time.Now()
		io.Copy(io.Discard, br)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("after STLS and %q: closed after %v, want within the 300 ms handshake timeout", send, d)
		}
		c.Close()
	}
}
