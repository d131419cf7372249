package localfs_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/izyware/izypop3/plugins/localfs/localfs"
	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/storetest"
)

// benchMessage is a message of about size octets with LF line endings (as
// Dovecot or mpop leave them), so WireSize differs from Size.
func benchMessage(i, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: bench@example.org\nSubject: bench %d\n\n", i)
	line := fmt.Sprintf("line of message %d, some text to fill it up\n", i)
	for b.Len() < size {
		b.WriteString(line)
	}
	return b.Bytes()
}

// fillMailbox drops n files into mailbox m (as another program would, no
// fsync), in the layout's unread folder.
func fillMailbox(b *testing.B, root, layout string, n, size int) {
	b.Helper()
	dir := filepath.Join(root, "m")
	if layout == "maildir" {
		dir = filepath.Join(dir, "new")
		os.MkdirAll(filepath.Join(root, "m", "cur"), 0o700)
		os.MkdirAll(filepath.Join(root, "m", "tmp"), 0o700)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	past := time.Now().Add(-time.Hour)
	for i := range n {
		name := fmt.Sprintf("1700000000.M%06dP1R%08x.bench", i%1000000, i)
		if layout == "eml" {
			name += ".eml"
		}
		if err := os.WriteFile(filepath.Join(dir, name), benchMessage(i, size), 0o600); err != nil {
			b.Fatal(err)
		}
		if err := os.Chtimes(filepath.Join(dir, name), past, past); err != nil {
			b.Fatal(err)
		}
	}
	// A mailbox at rest: nothing changed in the last seconds.
	for _, d := range []string{dir, filepath.Join(root, "m")} {
		if err := os.Chtimes(d, past, past); err != nil {
			b.Fatal(err)
		}
	}
}

func countList(b *testing.B, s sdk.Store) int {
	n := 0
	for it, err := range s.List(b.Context(), "m", sdk.ListOptions{Tags: []sdk.Tag{sdk.TagUnread}}) {
		if err != nil {
			b.Fatal(err)
		}
		if it.WireSize == 0 {
			b.Fatal("WireSize unknown")
		}
		n++
	}
	return n
}

// BenchmarkList measures List of a whole mailbox of 10 000 and 100 000
// messages (1 KiB each): "cold" is the first List over files nobody indexed
// (each file read once for its wire size and SHA-256, then cached),
// "restart" a fresh store over an existing index, "warm" a List by a
// running store (readdir + one fstatat per file, no body read).
func BenchmarkList(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		for _, layout := range []string{"eml", "maildir"} {
			root := b.TempDir()
			fillMailbox(b, root, layout, n, 1024)
			b.Run(fmt.Sprintf("%s/%d/cold", layout, n), func(b *testing.B) {
				for b.Loop() {
					b.StopTimer()
					os.Remove(filepath.Join(root, "m", "izypop3-index"))
					s, err := localfs.New(localfs.Config{Path: root, Layout: localfs.Layout(layout)})
					if err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					if got := countList(b, s); got != n {
						b.Fatalf("%d items", got)
					}
					s.Close()
				}
			})
			b.Run(fmt.Sprintf("%s/%d/restart", layout, n), func(b *testing.B) {
				for b.Loop() {
					s, err := localfs.New(localfs.Config{Path: root, Layout: localfs.Layout(layout)})
					if err != nil {
						b.Fatal(err)
					}
					if got := countList(b, s); got != n {
						b.Fatalf("%d items", got)
					}
					s.Close()
				}
			})
			b.Run(fmt.Sprintf("%s/%d/warm", layout, n), func(b *testing.B) {
				s, err := localfs.New(localfs.Config{Path: root, Layout: localfs.Layout(layout)})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				countList(b, s)
				// Writing the index touched the mailbox folder: let it
				// settle, as a mailbox at rest is (see settleTime).
				time.Sleep(2100 * time.Millisecond)
				countList(b, s)
				for b.Loop() {
					if got := countList(b, s); got != n {
						b.Fatalf("%d items", got)
					}
				}
			})
		}
	}
}

// BenchmarkFetch measures Fetch throughput (open + read the whole file).
func BenchmarkFetch(b *testing.B) {
	for _, size := range []int{20 << 10, 1 << 20, 50 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			s, err := localfs.New(localfs.Config{Path: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			res, err := s.Put(b.Context(), "m", sdk.PutOptions{}, bytes.NewReader(benchMessage(0, size)))
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 256<<10)
			b.SetBytes(res.Size)
			for b.Loop() {
				rc, err := s.Fetch(b.Context(), "m", res.UID)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{rc}, buf); err != nil {
					b.Fatal(err)
				}
				rc.Close()
			}
		})
	}
}

// BenchmarkPut measures fsync'ed Puts of 20 KB messages, one at a time and
// from 4 goroutines (one mailbox), reporting messages per second.
func BenchmarkPut(b *testing.B) {
	for _, layout := range []string{"eml", "maildir"} {
		for _, par := range []int{1, 4} {
			b.Run(fmt.Sprintf("%s/20KB/par%d", layout, par), func(b *testing.B) {
				s, err := localfs.New(localfs.Config{Path: b.TempDir(), Layout: localfs.Layout(layout)})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				body := benchMessage(0, 20_000)
				b.SetBytes(int64(len(body)))
				start := time.Now()
				b.SetParallelism(par)
				if par == 1 {
					for b.Loop() {
						if _, err := s.Put(b.Context(), "m", sdk.PutOptions{}, bytes.NewReader(body)); err != nil {
							b.Fatal(err)
						}
					}
				} else {
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							// Vary the content so Puts are not dup-checked equal.
							msg := append([]byte(strings.Repeat(" ", 0)), body...)
							msg[len(msg)-2] = byte('a' + time.Now().Nanosecond()%26)
							if _, err := s.Put(b.Context(), "m", sdk.PutOptions{}, bytes.NewReader(msg)); err != nil {
								b.Fatal(err)
							}
						}
					})
				}
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
			})
		}
	}
}

// BenchmarkRawFsyncFloor is the floor under BenchmarkPut: the same system
// calls (write 20 KB to a new file, fsync, rename into another directory,
// fsync that directory) in a loop, without the store.
func BenchmarkRawFsyncFloor(b *testing.B) {
	dir := b.TempDir()
	tmp, dst := filepath.Join(dir, "tmp"), filepath.Join(dir, "new")
	os.Mkdir(tmp, 0o700)
	os.Mkdir(dst, 0o700)
	d, err := os.Open(dst)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	body := benchMessage(0, 20_000)
	i := 0
	start := time.Now()
	for b.Loop() {
		i++
		name := fmt.Sprint(i)
		f, err := os.OpenFile(filepath.Join(tmp, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			b.Fatal(err)
		}
		f.Write(body)
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		f.Close()
		if err := os.Rename(filepath.Join(tmp, name), filepath.Join(dst, name)); err != nil {
			b.Fatal(err)
		}
		if err := d.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(i)/time.Since(start).Seconds(), "msgs/s")
}

// digestReader is a body that knows its SHA-256 (sdk.Digester), as the
// plugin's Put gets it.
type digestReader struct {
	*bytes.Reader
	sum [32]byte
}

func (d *digestReader) SHA256() [32]byte { return d.sum }

// BenchmarkSync is BenchmarkPluginSync's sync in process: 2000 × ~20 KB
// staged DeferSync Puts with SourceIDs, and every 500 a Sync, SetTag to
// unread and a Sync, reporting the CPU time of the process per message.
func BenchmarkSync(b *testing.B) {
	const n, batch = 2000, 500
	msgs := make([][]byte, n)
	sums := make([][32]byte, n)
	for i := range msgs {
		msgs[i] = benchMessage(i, 20_000)
		sums[i] = sha256.Sum256(msgs[i])
	}
	s, err := localfs.New(localfs.Config{Path: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := b.Context()
	var cpu time.Duration
	run := 0
	for b.Loop() {
		run++
		mailbox := fmt.Sprintf("m%d", run)
		before := rusageCPU()
		var uids []string
		for i, m := range msgs {
			opts := sdk.PutOptions{Tag: sdk.TagStaged, SourceID: fmt.Sprintf("pop3://bench@127.0.0.1:110/%08x", i), DeferSync: true}
			res, err := s.Put(ctx, mailbox, opts, &digestReader{bytes.NewReader(m), sums[i]})
			if err != nil {
				b.Fatal(err)
			}
			uids = append(uids, res.UID)
			if (i+1)%batch == 0 || i == n-1 {
				storetest.FinishBatch(b, s, mailbox, uids)
				uids = uids[:0]
			}
		}
		cpu += rusageCPU() - before
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(run*n), "cpu-µs/msg")
}

func rusageCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
