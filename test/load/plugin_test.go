package load

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/izyware/izypop3/core/pop3/pop3server"
	"github.com/izyware/izypop3/internal/testkit/plugintest"
)

func TestMain(m *testing.M) { plugintest.Main(m) }

// fakePlugin is the fake store's plugin binary, built for these tests.
var fakePlugin = plugintest.Plugin{Name: "fake", Package: "github.com/izyware/izypop3/plugins/fake", Env: "IZYPOP3_FAKE_BIN"}

// rssAnonKiB is the anonymous resident memory of process pid.
func rssAnonKiB(t *testing.T, pid string) int64 {
	f, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "RssAnon:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// TestStalledRetrsThroughPlugin is TestStalledRetrs over a real store
// plugin process (the fake store, generating the 50 MiB messages): the
// plugin's memory stays within its fixed bound of chunk buffers (32 MiB,
// and ~100 KiB a stream beyond), and it is given back once the server has
// cut the stalled clients. Before the bound, each stalled RETR cost the
// plugin ~3 MB, kept after the clients had left.
func TestStalledRetrsThroughPlugin(t *testing.T) {
	n := min(scale(t, 100), stallUsers)
	size := strconv.Itoa(50 << 20)
	h := fakePlugin.Open(t, map[string]string{"count": "1", "minsize": size, "maxsize": size,
		"mailbox.alice.minsize": "20000", "mailbox.alice.maxsize": "22000"})
	pid := strconv.Itoa(h.PID())
	s := startServerOver(t, pop3server.Options{MaxConns: n + 50, MaxConnsPerAddr: n + 50,
		WriteTimeout: 3 * time.Second, MinSendRate: 16 << 20}, h.Store())
	idle := rssAnonKiB(t, pid)
	var peak atomic.Int64
	sampled := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			peak.Store(max(peak.Load(), rssAnonKiB(t, pid)))
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	m := startMeter()
	stop := make(chan struct{})
	worst := probe(t, s.addr, stop)
	stallRetrs(t, n, s.addr)
	close(stop)
	close(done)
	<-sampled
	grown := (peak.Load() - idle) >> 10
	// 32 MiB of chunk buffers, 100 KiB per stream beyond, twice that for
	// the collector's headroom, 16 MiB for the rest.
	limit := int64(2*(32<<20+n*100<<10))>>20 + 16
	t.Logf("plugin RssAnon: %d MiB idle, up to %d MiB above it with %d stalled 50 MiB RETRs (bound %d MiB)", idle>>10, grown, n, limit)
	if grown > limit {
		t.Errorf("plugin grew by %d MiB with %d stalled RETRs, want at most %d", grown, n, limit)
	}
	deadline := time.Now().Add(30 * time.Second)
	var now int64
	for now = rssAnonKiB(t, pid); now-idle > 16<<10 && time.Now().Before(deadline); now = rssAnonKiB(t, pid) {
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("plugin RssAnon once the clients were cut: %d MiB", now>>10)
	if now-idle > 16<<10 {
		t.Errorf("plugin RssAnon %d MiB 30 s after the stalled clients were cut, %d MiB idle: not given back", now>>10, idle>>10)
	}
	// The host's heap holds, for each stream open from the plugin, up to
	// its 1 MiB flow-control window and a 256 KiB chunk (bounded in all by
	// --max-streams), besides what TestStalledRetrs allows.
	check(t, m, worst, int64(4*n+200), int64(64+n/2+n*5/4))
}
