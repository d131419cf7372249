package pop3server_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/izyware/izypop3/core/pop3/pop3server"
	"github.com/izyware/izypop3/core/pop3/pop3server/memback"
)

// TestMinSendRateDefault: at the default rate a client trickling a 50 MiB
// RETR gives it back within 2 hours (1 KiB/s, the default before, let it
// keep it 14).
func TestMinSendRateDefault(t *testing.T) {
	if d := time.Duration(50<<20/pop3server.DefaultMinSendRate) * time.Second; d > 2*time.Hour {
		t.Errorf("a 50 MiB RETR may take %v at DefaultMinSendRate, want at most 2 h", d)
	}
}

// TestMinSendRatePipelined (regression: each RETR had its own deadline of
// WriteTimeout plus its size at MinSendRate, so a client that pipelined
// RETRs and read each a little faster than that deadline held its stream
// below the rate for as long as it had messages): the
// replies of a session must go out at MinSendRate on average, after one
// grace of WriteTimeout. A client that reads at full speed gets all.
func TestMinSendRatePipelined(t *testing.T) {
	const (
		n    = 20
		size = 2 << 20
	)
	back := memback.New()
	back.AddUser("bob", "secret")
	// A header line, then the body: TOP n 0 sends only the header.
	msg := append([]byte("Subject: s\r\n\r\n"), bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n"), size/64)...)
	for i := range n {
		back.Add("bob", fmt.Sprintf("u%d", i), msg)
	}
	opts := testOptions(back)
	opts.WriteTimeout = time.Second
	opts.MinSendRate = 4 << 20 // each reply adds 0.5 s to the allowance
	_, addr := startServer(t, opts)

	// retrAll sends prefix, then pipelines RETRs of all n messages, and
	// reads the replies one 64 KiB block per pace.
	retrAll := func(prefix string, pace time.Duration) (got int, took time.Duration) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.(*net.TCPConn).SetReadBuffer(64 << 10)
		var cmds bytes.Buffer
		cmds.WriteString("USER bob\r\nPASS secret\r\n" + prefix)
		for i := range n {
			fmt.Fprintf(&cmds, "RETR %d\r\n", i+1)
		}
		cmds.WriteString("QUIT\r\n")
		start := time.Now()
		c.SetDeadline(start.Add(60 * time.Second))
		if _, err := c.Write(cmds.Bytes()); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReaderSize(c, 64<<10)
		buf := make([]byte, 64<<10)
		for {
			k, err := br.Read(buf)
			got += k
			if err != nil {
				break
			}
			time.Sleep(pace)
		}
		return got, time.Since(start)
	}

	// 64 KiB per 20 ms: at most 3.2 MiB/s (2.4 measured), below the rate;
	// each reply takes 0.6-0.9 s, within the 1.5 s it had on its own.
	got, took := retrAll("", 20*time.Millisecond)
	t.Logf("trickle reader: %d of %d MiB in %v", got>>20, n*size>>20, took.Round(time.Millisecond))
	if got >= n*size {
		t.Errorf("a reader below MinSendRate got all %d replies (%d octets in %v), want cut", n, got, took)
	}
	// TOP n 0 of each message first: a few lines each, which must not
	// earn the time of the whole messages for the RETRs after them.
	var tops strings.Builder
	for i := range n {
		fmt.Fprintf(&tops, "TOP %d 0\r\n", i+1)
	}
	got, took = retrAll(tops.String(), 20*time.Millisecond)
	t.Logf("trickle reader after TOPs: %d of %d MiB in %v", got>>20, n*size>>20, took.Round(time.Millisecond))
	if got >= n*size {
		t.Errorf("a reader below MinSendRate got all %d replies after %d TOPs (%d octets in %v), want cut", n, n, got, took)
	}
	got, took = retrAll("", 0)
	t.Logf("full-speed reader: %d of %d MiB in %v", got>>20, n*size>>20, took.Round(time.Millisecond))
	if got < n*size {
		t.Errorf("a reader at full speed got %d octets of %d replies of %d, want all", got, n, size)
	}
}
