package pop3server_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/izyware/izypop3/core/pop3/pop3server/memback"
	"github.com/izyware/izypop3/core/pop3/wire"
)

// writeCounter is an Observer that counts the server's writes to clients.
type writeCounter struct{ writes, octets atomic.Int64 }

func (w *writeCounter) SessionStarted()                      {}
func (w *writeCounter) SessionEnded()                        {}
func (w *writeCounter) Command(string, time.Duration, error) {}
func (w *writeCounter) BytesSent(n int) {
	w.writes.Add(1)
	w.octets.Add(int64(n))
}

// TestPipelinedRetrsShareWrites: the replies to pipelined RETRs (and the
// short replies between them) go out in full stream buffers, not in one
// write per message, and arrive whole and in order.
func TestPipelinedRetrsShareWrites(t *testing.T) {
	const n = 20
	b := memback.New()
	b.AddUser("bob", "secret")
	msg := benchMessage(20_000)
	for i := 1; i <= n; i++ {
		b.Add("bob", fmt.Sprintf("u%d", i), msg)
	}
	wc := &writeCounter{}
	opts := testOptions(b)
	opts.Observer = wc
	_, addr := startServer(t, opts)
	c := dial(t, addr)
	c.login()
	before := wc.writes.Load()
	var cmds []string
	for i := 1; i <= n; i++ {
		cmds = append(cmds, fmt.Sprintf("RETR %d", i), "NOOP")
	}
	c.send(append(cmds, "STAT")...)
	size := wire.Size(msg)
	for i := 1; i <= n; i++ {
		c.expect(fmt.Sprintf("+OK %d octets", size))
		if got := c.body(); got != string(msg) {
			t.Fatalf("RETR %d: body differs", i)
		}
		c.expect("+OK")
	}
	c.expect(fmt.Sprintf("+OK %d %d", n, n*size))
	// 20 × 20 KB is 7 writes of 64 KiB; one write per RETR would be 20.
	if w := wc.writes.Load() - before; w > 10 {
		t.Errorf("%d pipelined RETRs took %d writes, want at most 10", n, w)
	}
}
