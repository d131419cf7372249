package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/izyware/izypop3/core/storehost"
	"github.com/izyware/izypop3/internal/mailgen"
	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/storetest"
)

// The same figures as the localfs package's benchmarks, seen through the
// plugin process (gRPC over the go-plugin socket), as izypop3 sees them.

// benchFill drops n settled messages of about size octets (LF endings)
// into ROOT/m, eml layout.
func benchFill(b *testing.B, root string, n, size int) {
	dir := filepath.Join(root, "m")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	past := time.Now().Add(-time.Hour)
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("1700000000.M%06dP1R%08x.eml", i%1000000, i))
		var m bytes.Buffer
		fmt.Fprintf(&m, "From: bench@example.org\nSubject: bench %d\n\n", i)
		for m.Len() < size {
			fmt.Fprintf(&m, "line of message %d, some text to fill it up\n", i)
		}
		if err := os.WriteFile(p, m.Bytes(), 0o600); err != nil {
			b.Fatal(err)
		}
		os.Chtimes(p, past, past)
	}
	os.Chtimes(dir, past, past)
}

// BenchmarkPluginList: List of a settled mailbox through the plugin, after
// a first List built the index.
func BenchmarkPluginList(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			root := b.TempDir()
			benchFill(b, root, n, 1024)
			h := plugin.Open(b, map[string]string{"path": root})
			count := func() {
				got := 0
				for _, err := range h.Store().List(b.Context(), "m", sdk.ListOptions{Tags: []sdk.Tag{sdk.TagUnread}}) {
					if err != nil {
						b.Fatal(err)
					}
					got++
				}
				if got != n {
					b.Fatalf("%d items", got)
				}
			}
			count()
			time.Sleep(2100 * time.Millisecond) // let the folder settle after the index write
			count()
			for b.Loop() {
				count()
			}
		})
	}
}

// BenchmarkPluginFetch: Fetch throughput through the plugin.
func BenchmarkPluginFetch(b *testing.B) {
	for _, size := range []int{20 << 10, 1 << 20, 50 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			h := plugin.Open(b, map[string]string{"path": b.TempDir()})
			res, err := h.Store().Put(b.Context(), "m", sdk.PutOptions{}, bytes.NewReader(bytes.Repeat([]byte("0123456789abcde\n"), size/16)))
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(res.Size)
			for b.Loop() {
				rc, err := h.Store().Fetch(b.Context(), "m", res.UID)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, rc); err != nil {
					b.Fatal(err)
				}
				rc.Close()
			}
		})
	}
}

// BenchmarkPluginPut: fsync'ed Puts of 20 KB messages through the plugin,
// one at a time, in messages per second.
func BenchmarkPluginPut(b *testing.B) {
	for _, layout := range []string{"eml", "maildir"} {
		b.Run(layout+"/20KB", func(b *testing.B) {
			h := plugin.Open(b, map[string]string{"path": b.TempDir(), "layout": layout})
			i := 0
			start := time.Now()
			for b.Loop() {
				i++
				if _, err := h.Store().Put(b.Context(), "m", sdk.PutOptions{SourceID: fmt.Sprint(i)}, bytes.NewReader(crashMessage(i))); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(i)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}

// BenchmarkPluginSync stores a sync as clientpop3 does: 2000 × ~20 KB
// messages over one PutBatch stream, up to 32 sent ahead of their answers
// (the fetcher's sendAhead), tagged staged with a SourceID and DeferSync;
// every 500 messages a barrier (Sync), SetTag staged → unread, and a
// barrier again.
// It reports the plugin process's own CPU time per message (user + system,
// from /proc, in clock ticks): the figure a change to the plugin moves.
// TMPDIR chooses the file system; IZYPOP3_LOCALFS_BIN another binary.
func BenchmarkPluginSync(b *testing.B) {
	const (
		n     = 2000
		batch = 500
		ahead = 32
	)
	msgs := mailgen.Set(11, n, 20000)
	h, err := storehost.Open(b.Context(), storehost.Options{Name: plugin.Name, Path: plugin.Binary(b),
		Config: map[string]string{"path": b.TempDir()}, Env: []string{"GOMAXPROCS=1"}})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	st := h.Store()
	ctx := b.Context()
	var cpu time.Duration
	run := 0
	for b.Loop() {
		run++
		mailbox := fmt.Sprintf("m%d", run)
		before := procCPU(b, h.PID())
		bw, err := st.(sdk.BatchPutter).PutBatch(ctx, mailbox)
		if err != nil {
			b.Fatal(err)
		}
		bs := bw.(sdk.BatchSender)
		var uids []string
		pending := 0
		result := func() {
			res, err := bs.Result()
			if err != nil {
				b.Fatal(err)
			}
			uids = append(uids, res.UID)
			pending--
		}
		for i, m := range msgs {
			opts := sdk.PutOptions{Tag: sdk.TagStaged, SourceID: fmt.Sprintf("pop3://bench@127.0.0.1:110/%08x", i), DeferSync: true}
			if err := bs.Send(opts, bytes.NewReader(m)); err != nil {
				b.Fatal(err)
			}
			if pending++; pending > ahead {
				result()
			}
			if (i+1)%batch == 0 || i == n-1 {
				for pending > 0 {
					result()
				}
				storetest.FinishBatch(b, st, mailbox, uids)
				uids = uids[:0]
			}
		}
		bw.Close()
		cpu += procCPU(b, h.PID()) - before
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(run*n), "plugin-µs/msg")
}

// procCPU is the user + system time of process pid so far.
func procCPU(b *testing.B, pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command (which may hold spaces): state is field 3,
	// utime and stime fields 14 and 15, in clock ticks (100 a second).
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+stime) * 10 * time.Millisecond
}
