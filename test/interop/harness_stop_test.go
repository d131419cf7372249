package interop

import (
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestStopAfterOwnExit (regression: stop read cmd.ProcessState while the
// goroutine in cmd.Wait wrote it, a data race under -race whenever a
// server had died on its own): stop of a server that was killed returns
// at once, and so does a second stop.
func TestStopAfterOwnExit(t *testing.T) {
	s := startIzypop3(t)
	s.cmd.Process.Signal(syscall.SIGKILL)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(s.Port))
		if err != nil {
			break
		}
		c.Close()
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // cmd.Wait has returned and set ProcessState
	start := time.Now()
	s.stop(t)
	s.stop(t)
	if d := time.Since(start); d > serverStopTimeout {
		t.Errorf("stop of a dead server took %v", d)
	}
}
