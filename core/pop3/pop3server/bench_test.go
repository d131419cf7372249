package pop3server_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/izyware/izypop3/core/pop3/pop3server/memback"
	"github.com/izyware/izypop3/core/pop3/wire"
	"github.com/izyware/izypop3/internal/testkit"
)

// benchMessage returns a message of about size octets: a header and
// testkit.DotText's CRLF lines.
func benchMessage(size int) []byte {
	const header = "From: bench@example.com\r\nTo: you@example.com\r\nSubject: benchmark\r\n\r\n"
	return append([]byte(header), testkit.DotText(size-len(header), "\r\n")...)
}

func benchRetr(b *testing.B, size int) {
	msg := benchMessage(size)
	back := memback.New()
	back.AddUser("bob", "secret")
	back.Add("bob", "m1", msg)
	_, addr := startServer(b, testOptions(back))
	c := dial(b, addr)
	c.conn.SetDeadline(time.Time{})
	c.login()
	c.br = bufio.NewReaderSize(c.conn, 64<<10) // nothing is pending after login
	wsize := wire.Size(msg)
	status := fmt.Sprintf("+OK %d octets", wsize)
	b.SetBytes(wsize)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		io.WriteString(c.conn, "RETR 1\r\n")
		if l := c.line(); l != status {
			b.Fatalf("RETR: %q", l)
		}
		n, err := io.Copy(io.Discard, wire.NewDotReader(c.br))
		if err != nil || n != wsize {
			b.Fatalf("RETR read %d, %v", n, err)
		}
	}
}

// BenchmarkRetr20KB and BenchmarkRetr10MiB: RETR over loopback TCP from
// the memory backend, one message at a time, client unstuffing included.
func BenchmarkRetr20KB(b *testing.B)  { benchRetr(b, 20_000) }
func BenchmarkRetr10MiB(b *testing.B) { benchRetr(b, 10<<20) }

// BenchmarkRetrPipelined20KB sends 100 RETRs in one write per batch.
func BenchmarkRetrPipelined20KB(b *testing.B) {
	msg := benchMessage(20_000)
	back := memback.New()
	back.AddUser("bob", "secret")
	const batch = 100
	for i := 0; i < batch; i++ {
		back.Add("bob", "m"+strconv.Itoa(i), msg)
	}
	_, addr := startServer(b, testOptions(back))
	c := dial(b, addr)
	c.conn.SetDeadline(time.Time{})
	c.login()
	c.br = bufio.NewReaderSize(c.conn, 64<<10)
	var cmds strings.Builder
	for i := 1; i <= batch; i++ {
		fmt.Fprintf(&cmds, "RETR %d\r\n", i)
	}
	wsize := wire.Size(msg)
	b.SetBytes(wsize * batch)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		go io.WriteString(c.conn, cmds.String())
		for j := 0; j < batch; j++ {
			c.line()
			if n, err := io.Copy(io.Discard, wire.NewDotReader(c.br)); err != nil || n != wsize {
				b.Fatalf("RETR read %d, %v", n, err)
			}
		}
	}
}

// BenchmarkStatList measures a short-reply round trip.
func BenchmarkStatList(b *testing.B) {
	_, addr := startServer(b, testOptions(newBackend()))
	c := dial(b, addr)
	c.conn.SetDeadline(time.Time{})
	c.login()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		io.WriteString(c.conn, "STAT\r\n")
		c.line()
	}
}

const (
	idleSessions     = 1000
	idleBudgetPerSes = 100 << 10 // bytes of server RSS per idle logged-in session
	idleClientEnv    = "POP3SERVER_IDLE_CLIENT_ADDR"
)

// TestIdleSessionMemory measures the server's memory per idle, logged-in
// session: 1000 clients (in a child process, so that their memory is not
// counted) log in and stay; the server's RSS and Go heap+stacks are
// compared before and after.
func TestIdleSessionMemory(t *testing.T) {
	if addr := os.Getenv(idleClientEnv); addr != "" {
		idleClients(t, addr)
		return
	}
	if testing.Short() || raceEnabled {
		t.Skip("memory measurement: not in -short or -race runs")
	}
	back := memback.New()
	for i := 0; i < idleSessions; i++ {
		u := "u" + strconv.Itoa(i)
		back.AddUser(u, "pw")
		for j := 0; j < 20; j++ {
			back.Add(u, fmt.Sprintf("%s-%d", u, j), []byte("Subject: x\r\n\r\nbody\r\n"))
		}
	}
	opts := testOptions(back)
	opts.MaxConnsPerAddr = -1 // every client is on 127.0.0.1
	opts.MaxConns = 2 * idleSessions
	_, addr := startServer(t, opts)
	// Warm up one session so that lazily allocated runtime parts exist.
	c := dial(t, addr)
	c.line()
	c.send("USER u0", "PASS pw", "QUIT")
	c.expect("+OK send PASS", "+OK maildrop has 20 messages (400 octets)", "+OK bye (20 messages left)")

	rss0, go0 := memNow()
	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleSessionMemory$")
	cmd.Env = append(os.Environ(), idleClientEnv+"="+addr)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	sc := bufio.NewScanner(stdout)
	ready := false
	for sc.Scan() {
		if sc.Text() == "ready" {
			ready = true
			break
		}
	}
	if !ready {
		t.Fatal("client process did not get ready")
	}
	rss1, go1 := memNow()
	perRSS := (rss1 - rss0) / idleSessions
	perGo := (go1 - go0) / idleSessions
	t.Logf("%d idle logged-in sessions: server RSS +%d KiB (%d B/session), Go heap+stacks +%d KiB (%d B/session)",
		idleSessions, (rss1-rss0)>>10, perRSS, (go1-go0)>>10, perGo)
	if perRSS > idleBudgetPerSes {
		t.Errorf("RSS per idle session %d B > budget %d B", perRSS, idleBudgetPerSes)
	}
}

// memNow returns the process RSS and the Go heap in use plus stacks, after
// a GC.
func memNow() (rss, goMem int64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	data, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			rss = kb << 10
		}
	}
	return rss, int64(ms.HeapInuse + ms.StackInuse)
}

// idleClients runs in the child: log in idleSessions times, report ready,
// hold the connections until stdin closes.
func idleClients(t *testing.T, addr string) {
	conns := make([]net.Conn, 0, idleSessions)
	for i := 0; i < idleSessions; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		br := bufio.NewReaderSize(c, 256)
		fmt.Fprintf(c, "USER u%d\r\nPASS pw\r\n", i)
		for j := 0; j < 3; j++ {
			l, err := br.ReadString('\n')
			if err != nil || !strings.HasPrefix(l, "+OK") {
				t.Fatalf("session %d: %q %v", i, l, err)
			}
		}
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
}
