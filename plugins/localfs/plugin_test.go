package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/izyware/izypop3/internal/testkit/plugintest"
	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/pluginhost"
	"github.com/izyware/izypop3/sdk/storetest"
)

// plugin is this package's binary, built once for its tests and
// benchmarks. Set IZYPOP3_LOCALFS_BIN to use one built beforehand.
var plugin = plugintest.Plugin{Name: "localfs", Env: "IZYPOP3_LOCALFS_BIN"}

func TestMain(m *testing.M) { plugintest.Main(m) }

// The conformance suite against the real plugin process, both layouts.
func TestConformanceBinary(t *testing.T) {
	for _, layout := range []string{"eml", "maildir"} {
		t.Run(layout, func(t *testing.T) {
			plugin.Conformance(t, func(t *testing.T) map[string]string {
				return map[string]string{"path": t.TempDir(), "layout": layout}
			})
		})
	}
}

// Unknown config keys stop the plugin's start with the key named.
func TestBinaryStrictConfig(t *testing.T) {
	plugin.OpenFails(t, map[string]string{"path": t.TempDir(), "lay0ut": "eml"}, "lay0ut")
}

// crashMessage is message i of the crash test: 20 KB, unique.
func crashMessage(i int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: crash@example.org\r\nSubject: crash test %d\r\nMessage-ID: <%d@crash.invalid>\r\n\r\n", i, i)
	line := fmt.Sprintf("%d the quick brown fox jumps over the lazy dog %d\r\n", i, i)
	for b.Len() < 20*1024 {
		b.WriteString(line)
	}
	return b.Bytes()
}

func hexSHA(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// The plugin is killed (SIGKILL) while several Puts stream in; after the
// host restarts it, every acknowledged Put is there whole, no message is
// partial, and re-sending any message with its SourceID duplicates nothing.
func TestCrashDuringPuts(t *testing.T) {
	for _, layout := range []string{"eml", "maildir"} {
		t.Run(layout, func(t *testing.T) { crashTest(t, layout) })
	}
}

func crashTest(t *testing.T, layout string) {
	const (
		writers = 4 // concurrent Put streams, so writes are in flight at the kill
		rounds  = 3 // kills per layout
	)
	root := t.TempDir()
	h := plugin.Open(t, map[string]string{"path": root, "layout": layout})
	ctx := t.Context()
	var (
		mu    sync.Mutex
		acked = map[int]sdk.PutResult{}
		next  int
	)
	sent := map[string]int{} // sha → message number
	for round := range rounds {
		pid := h.PID()
		if pid == 0 {
			if _, err := h.Store().Stat(ctx, "m"); err != nil { // starts a fresh plugin
				t.Fatal(err)
			}
			pid = h.PID()
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					mu.Lock()
					i := next
					next++
					mu.Unlock()
					body := crashMessage(i)
					res, err := h.Store().Put(ctx, "m", sdk.PutOptions{SourceID: fmt.Sprintf("pop3://u@h:110/%d", i)},
						&slowReader{r: bytes.NewReader(body)})
					if err != nil {
						if !errors.Is(err, sdk.ErrUnavailable) {
							t.Errorf("Put %d: %v", i, err)
						}
						return
					}
					mu.Lock()
					acked[i] = res
					mu.Unlock()
				}
			}()
		}
		time.Sleep(150 * time.Millisecond)
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		close(stop)
		wg.Wait()
		mu.Lock()
		t.Logf("round %d: killed pid %d after %d messages started, %d acknowledged", round, pid, next, len(acked))
		mu.Unlock()
	}
	for i := range next {
		sent[hexSHA(crashMessage(i))] = i
	}

	// After the restart: every acknowledged Put is listed and whole.
	items := map[string]sdk.Item{}
	for it, err := range h.Store().List(ctx, "m", sdk.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		items[it.UID] = it
	}
	for i, res := range acked {
		it, ok := items[res.UID]
		if !ok {
			t.Fatalf("acknowledged Put %d (UID %s) lost", i, res.UID)
		}
		if it.Size != int64(len(crashMessage(i))) || it.SourceID != fmt.Sprintf("pop3://u@h:110/%d", i) {
			t.Fatalf("item %+v for message %d", it, i)
		}
	}
	// No message is partial: every listed item is one whole sent message.
	for uid := range items {
		b := storetest.Fetch(t, h.Store(), "m", uid)
		if _, ok := sent[hexSHA(b)]; !ok {
			t.Fatalf("item %s is not a whole sent message (%d octets)", uid, len(b))
		}
	}
	// And on disk, outside tmp/, no file is partial either.
	filepath.WalkDir(filepath.Join(root, "m"), func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || filepath.Base(filepath.Dir(p)) == "tmp" {
			return err
		}
		name := d.Name()
		if name == "izypop3-index" || name == "izypop3.lock" || name == "izypop3-put.lock" || name == "izypop3-put.want" || name == "maildirfolder" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if _, ok := sent[hexSHA(b)]; !ok {
			t.Errorf("partial file on disk: %s (%d octets)", p, len(b))
		}
		return nil
	})
	// Re-sending everything with its SourceID stores nothing new.
	for i := range next {
		if _, ok := acked[i]; !ok {
			continue
		}
		res, err := h.Store().Put(ctx, "m", sdk.PutOptions{SourceID: fmt.Sprintf("pop3://u@h:110/%d", i)}, bytes.NewReader(crashMessage(i)))
		if err != nil {
			t.Fatal(err)
		}
		if !res.Existing || res.UID != acked[i].UID {
			t.Fatalf("re-Put %d: %+v", i, res)
		}
	}
	t.Logf("%d messages started, %d acknowledged, %d present after restarts", next, len(acked), len(items))
}

// slowReader hands the body over in 4 KiB pieces, so a Put spends time in
// its stream and the kill lands mid-write.
type slowReader struct{ r io.Reader }

func (s *slowReader) Read(p []byte) (int, error) {
	if len(p) > 4096 {
		p = p[:4096]
	}
	return s.r.Read(p)
}

// Two plugin processes on one directory exclude each other through the
// Locker, and a lock dies with its process: the store bound to it fails
// with ErrLockLost, also once a fresh plugin runs.
func TestLockAcrossProcesses(t *testing.T) {
	root := t.TempDir()
	ha := plugin.Open(t, map[string]string{"path": root})
	a := ha.Store().(sdk.Locker)
	b := plugin.Open(t, map[string]string{"path": root}).Store().(sdk.Locker)
	ctx := context.Background()
	tokA, err := a.Lock(ctx, "m")
	if err != nil {
		t.Fatal(err)
	}
	bound := a.(pluginhost.LockBinder).Bind("m", tokA)
	if _, err := bound.Stat(ctx, "m"); err != nil {
		t.Fatalf("Stat under a live lock: %v", err)
	}
	if _, err := b.Lock(ctx, "m"); !errors.Is(err, sdk.ErrInUse) {
		t.Fatalf("second process: %v, want ErrInUse", err)
	}
	if err := syscall.Kill(ha.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := b.Lock(ctx, "m")
		if err == nil {
			break
		}
		if !errors.Is(err, sdk.ErrInUse) || time.Now().After(deadline) {
			t.Fatalf("Lock after the holder died: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := bound.Stat(ctx, "m"); !errors.Is(err, pluginhost.ErrLockLost) {
		t.Errorf("Stat under the lock after the holder died: %v, want ErrLockLost", err)
	}
	if _, err := ha.Store().Stat(ctx, "m"); err != nil { // a fresh plugin for a
		t.Fatal(err)
	}
	if _, err := bound.Stat(ctx, "m"); !errors.Is(err, pluginhost.ErrLockLost) {
		t.Errorf("Stat under the lock after a restart: %v, want ErrLockLost", err)
	}
	if err := a.Unlock(ctx, "m", tokA); !errors.Is(err, pluginhost.ErrLockLost) {
		t.Errorf("Unlock of a lost lock: %v, want ErrLockLost", err)
	}
}
