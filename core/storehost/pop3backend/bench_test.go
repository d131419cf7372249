package pop3backend_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/izyware/izypop3/core/pop3/wire"
	"github.com/izyware/izypop3/core/storehost/pop3backend"
)

// BenchmarkRetrPipelined20KB: one op is 100 RETRs of 20 KB messages sent
// in one write, through the server, the read-ahead and a store served over
// gRPC in process (the path of a plugin, without the second process).
// cpu-µs/RETR is the user+sys CPU of the test process per RETR: client,
// server and store together.
func BenchmarkRetrPipelined20KB(b *testing.B) {
	const batch = 100
	cs := remoteOf(b, mail(b, batch, 20_000))
	addr := serve(b, cs.view(b), pop3backend.Options{})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReaderSize(conn, 64<<10)
	line := func() string {
		l, err := br.ReadString('\n')
		if err != nil {
			b.Fatal(err)
		}
		return strings.TrimRight(l, "\r\n")
	}
	line() // greeting
	io.WriteString(conn, "USER alice\r\nPASS pw\r\n")
	line()
	if l := line(); !strings.HasPrefix(l, "+OK") {
		b.Fatalf("login: %q", l)
	}
	var cmds strings.Builder
	for i := 1; i <= batch; i++ {
		fmt.Fprintf(&cmds, "RETR %d\r\n", i)
	}
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	b.SetBytes(20_000 * batch)
	c0 := cpu()
	for b.Loop() {
		go io.WriteString(conn, cmds.String())
		for range batch {
			if l := line(); !strings.HasPrefix(l, "+OK") {
				b.Fatalf("RETR: %q", l)
			}
			if _, err := io.Copy(io.Discard, wire.NewDotReader(br)); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64((cpu()-c0).Microseconds())/float64(b.N*batch), "cpu-µs/RETR")
}
