package storehost

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/izyware/izypop3/core/storehost/internal/teststore"
	"github.com/izyware/izypop3/sdk/pluginhost"
)

// TestStalledStreamsPluginMemory: message streams the host opens and does
// not read (POP3 clients that RETR a 50 MiB message and never read it) cost
// the plugin a few chunks each and a bounded total, and the plugin gives
// the memory back to the system once they are closed.
//
// Before the bound, 100 such streams grew the plugin by ~300 MB (each held
// its 256 KiB read buffer and one or two 1 MiB encode buffers), and the
// memory stayed resident long after the streams had ended. Now: SendMemory
// (32 MiB) of full-size chunk buffers over all streams, ~100 KiB per stream
// beyond it, and a GC and FreeOSMemory 5 s after the last stream.
func TestStalledStreamsPluginMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 100 streams of 50 MiB (-short)")
	}
	h, err := Open(context.Background(), Options{Name: "test", Path: pluginTest})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	pid := strconv.Itoa(h.PID())
	bf, ok := h.Store().(pluginhost.BatchFetcher)
	if !ok {
		t.Fatal("the test plugin serves no FetchBatch")
	}
	idle := procStatus(pid, "RssAnon")

	const n = 100
	uid := fmt.Sprintf("%s%d", teststore.GenPrefix, 50<<20)
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	one := make([]byte, 1)
	for i := range n {
		// Half Fetch, half FetchBatch; each read once, so the plugin is
		// known to be streaming it, then left.
		var r io.Reader
		if i%2 == 0 {
			rc, err := h.Store().Fetch(context.Background(), "INBOX", uid)
			if err != nil {
				t.Fatal(err)
			}
			closers = append(closers, rc)
			r = rc
		} else {
			br, err := bf.FetchBatch(context.Background(), "INBOX", []string{uid, uid})
			if err != nil {
				t.Fatal(err)
			}
			closers = append(closers, br)
			_, ir, err := br.Next()
			if err != nil {
				t.Fatal(err)
			}
			r = ir
		}
		if _, err := io.ReadFull(r, one); err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
	}
	// The plugin fills what flow control lets it send and stops: wait
	// until its memory has not moved for a second.
	settled(pid, 30*time.Second)
	peak := procStatus(pid, "VmHWM") - procStatus(pid, "RssFile")
	grown := (peak - idle) >> 10
	t.Logf("plugin RssAnon: %d MiB idle, peak %d MiB with %d stalled streams (+%d KiB per stream)", idle>>10, peak>>10, n, (peak-idle)/n)
	// The sdk's 32 MiB of chunk buffers, 100 KiB per stream beyond it,
	// twice that for the GC's headroom, and 16 MiB for the rest
	// (goroutines, gRPC's own buffers): 99 MiB.
	if limit := int64(2*(32<<20+n*100<<10))>>20 + 16; grown > limit {
		t.Errorf("plugin grew by %d MiB with %d stalled streams, want at most %d", grown, n, limit)
	}

	for _, c := range closers {
		c.Close()
	}
	closers = nil
	deadline := time.Now().Add(30 * time.Second)
	var rss int64
	for {
		rss = procStatus(pid, "RssAnon")
		if rss-idle <= 16<<10 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("plugin RssAnon after the streams closed: %d MiB", rss>>10)
	if rss-idle > 16<<10 {
		t.Errorf("plugin RssAnon %d MiB 30 s after the streams closed, %d MiB idle before: memory not given back", rss>>10, idle>>10)
	}
}

// settled waits until the RssAnon of pid has stayed within 1 MiB for a
// second, or until max.
func settled(pid string, max time.Duration) {
	deadline := time.Now().Add(max)
	last, since := procStatus(pid, "RssAnon"), time.Now()
	for time.Now().Before(deadline) && time.Since(since) < time.Second {
		time.Sleep(100 * time.Millisecond)
		if v := procStatus(pid, "RssAnon"); v-last > 1<<10 || last-v > 1<<10 {
			last, since = v, time.Now()
		}
	}
}
