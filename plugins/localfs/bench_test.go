package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/izyware/izypop3/sdk"
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
