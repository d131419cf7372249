package storehost

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"strconv"
	"syscall"
	"testing"

	"github.com/izyware/izypop3/core/storehost/internal/teststore"
	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/pluginhost"
)

func gen(size int) string { return teststore.GenPrefix + strconv.Itoa(size) }

// readGen reads r whole and checks it is the generated message of size.
func readGen(t *testing.T, r io.Reader, size int) {
	t.Helper()
	hg, hw := sha256.New(), sha256.New()
	n, err := io.Copy(hg, r)
	io.Copy(hw, teststore.Generated(int64(size)))
	if err != nil || n != int64(size) || !bytes.Equal(hg.Sum(nil), hw.Sum(nil)) {
		t.Fatalf("item of %d octets: read %d, err %v, sha match %v", size, n, err, bytes.Equal(hg.Sum(nil), hw.Sum(nil)))
	}
}

func TestFetchBatchThroughPlugin(t *testing.T) {
	h := open(t, Options{Path: pluginTest})
	ctx := context.Background()
	sizes := []int{20 << 10, -1, 5 << 20, 0, 20 << 10}
	var uids []string
	for _, n := range sizes {
		if n < 0 {
			uids = append(uids, "nosuch")
			continue
		}
		uids = append(uids, gen(n))
	}
	br, err := h.Store().(pluginhost.BatchFetcher).FetchBatch(ctx, "INBOX", uids)
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	for i, n := range sizes {
		uid, r, err := br.Next()
		if uid != uids[i] {
			t.Fatalf("item %d: uid %q, want %q", i, uid, uids[i])
		}
		if n < 0 {
			if !errors.Is(err, sdk.ErrNotFound) {
				t.Fatalf("missing item: %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		readGen(t, r, n)
	}
	if _, _, err := br.Next(); err != io.EOF {
		t.Fatalf("after the last item: %v", err)
	}
}

func TestFetchBatchPlainPlugin(t *testing.T) {
	// A store with no optional interface still batches: the sdk serves
	// FetchBatch for every store. (A plugin built before the RPC, which
	// answers Unimplemented, is simulated in the sdk's tests.)
	h := open(t, Options{Name: "plain", Path: pluginPlain})
	br, err := h.Store().(pluginhost.BatchFetcher).FetchBatch(context.Background(), "INBOX", []string{gen(10)})
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	_, r, err := br.Next()
	if err != nil {
		t.Fatal(err)
	}
	readGen(t, r, 10)
}

func TestKillDuringFetchBatch(t *testing.T) {
	h := open(t, Options{Path: pluginTest})
	ctx := context.Background()
	pid := h.PID()
	const size = 50 << 20
	br, err := h.Store().(pluginhost.BatchFetcher).FetchBatch(ctx, "INBOX", []string{gen(20 << 10), gen(size), gen(size)})
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	_, r, err := br.Next()
	if err != nil {
		t.Fatal(err)
	}
	readGen(t, r, 20<<10)
	_, r, err = br.Next()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(r, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, r)
	if !errors.Is(err, sdk.ErrUnavailable) {
		t.Fatalf("read after SIGKILL: %d more octets, then %v; want ErrUnavailable", n, err)
	}
	if _, _, err := br.Next(); !errors.Is(err, sdk.ErrUnavailable) {
		t.Fatalf("Next after SIGKILL: %v", err)
	}
	br.Close()

	// The next call starts a new process and batches again.
	br, err = h.Store().(pluginhost.BatchFetcher).FetchBatch(ctx, "INBOX", []string{gen(3), gen(chunkBoundary + 7)})
	if err != nil {
		t.Fatalf("batch after the crash: %v", err)
	}
	defer br.Close()
	if npid := h.PID(); npid == 0 || npid == pid {
		t.Fatalf("pid after restart %d (was %d)", npid, pid)
	}
	for _, n := range []int{3, chunkBoundary + 7} {
		_, r, err := br.Next()
		if err != nil {
			t.Fatal(err)
		}
		readGen(t, r, n)
	}
}

// chunkBoundary is an item size that crosses a chunk boundary.
const chunkBoundary = pluginhost.ChunkSize

// BenchmarkSequential20KB compares the two ways a host reads a run of
// messages through the real plugin process: one Fetch per message, and one
// FetchBatch stream (what pop3backend does for sequential RETRs). One op is
// one 20 KB message; host-µs/op and plugin-µs/op are the CPU time of each
// process (from /proc, 10 ms ticks: run with -benchtime=20000x or more).
func BenchmarkSequential20KB(b *testing.B) {
	const size = 20 << 10
	h, err := Open(context.Background(), Options{Name: "test", Path: pluginTest})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	uid := gen(size)
	ctx := context.Background()
	buf := make([]byte, 64<<10)
	read := func(r io.Reader) {
		n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{r}, buf)
		if err != nil || n != size {
			b.Fatalf("read %d octets, %v", n, err)
		}
	}
	measure := func(b *testing.B, loop func()) {
		pid := strconv.Itoa(h.PID())
		host0, plug0 := cpuTime("self"), cpuTime(pid)
		b.SetBytes(size)
		loop()
		b.ReportMetric(float64((cpuTime("self")-host0).Microseconds())/float64(b.N), "host-µs/op")
		b.ReportMetric(float64((cpuTime(pid)-plug0).Microseconds())/float64(b.N), "plugin-µs/op")
	}
	b.Run("Fetch", func(b *testing.B) {
		measure(b, func() {
			for b.Loop() {
				rc, err := h.Store().Fetch(ctx, "INBOX", uid)
				if err != nil {
					b.Fatal(err)
				}
				read(rc)
				rc.Close()
			}
		})
	})
	b.Run("FetchBatch", func(b *testing.B) {
		const run = 256 // items per stream, as pop3backend asks
		uids := make([]string, run)
		for i := range uids {
			uids[i] = uid
		}
		measure(b, func() {
			var br pluginhost.BatchReader
			left := 0
			for b.Loop() {
				if left == 0 {
					if br != nil {
						br.Close()
					}
					if br, err = h.Store().(pluginhost.BatchFetcher).FetchBatch(ctx, "INBOX", uids); err != nil {
						b.Fatal(err)
					}
					left = run
				}
				_, r, err := br.Next()
				if err != nil {
					b.Fatal(err)
				}
				read(r)
				left--
			}
			if br != nil {
				br.Close()
			}
		})
	})
}
