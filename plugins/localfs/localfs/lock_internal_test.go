package localfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/izyware/izypop3/sdk"
)

func newStore(t *testing.T, root string) *Store {
	t.Helper()
	s, err := New(Config{Path: root, Layout: LayoutEML})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// session is what a POP3 login does to the store: Lock, List, Stat, Unlock.
func session(t *testing.T, s *Store, name string) {
	t.Helper()
	tok, err := s.Lock(t.Context(), name)
	if err != nil {
		t.Fatalf("Lock(%q): %v", name, err)
	}
	for _, err := range s.List(t.Context(), name, sdk.ListOptions{}) {
		if err != nil {
			t.Fatalf("List(%q): %v", name, err)
		}
	}
	if _, err := s.Stat(t.Context(), name); err != nil {
		t.Fatalf("Stat(%q): %v", name, err)
	}
	if err := s.Unlock(t.Context(), name, tok); err != nil {
		t.Fatalf("Unlock(%q): %v", name, err)
	}
}

// TestLoginLeavesNothing: logins to names that never received mail (with
// --password every name a client tries gets that far) leave no directory
// and no mailbox state behind; a mailbox that got mail, and a directory
// that was there before, stay.
func TestLoginLeavesNothing(t *testing.T) {
	root := t.TempDir()
	s := newStore(t, root)
	for i := range 200 {
		session(t, s, fmt.Sprintf("guess%d", i))
	}
	if ents, _ := os.ReadDir(root); len(ents) > 1 { // the store's own top-level entry may be there
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("200 logins left %d entries in the root: %v", len(ents), names[:min(len(names), 5)])
	}
	s.mu.Lock()
	n, ne := len(s.mboxes), len(s.ensured)
	s.mu.Unlock()
	if n != 0 || ne != 0 {
		t.Errorf("store keeps %d mailboxes and %d directories after 200 logins to empty names", n, ne)
	}

	// Mail put while the session holds the lock: the mailbox stays.
	tok, err := s.Lock(t.Context(), "real")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(t.Context(), "real", sdk.PutOptions{}, strings.NewReader("Subject: x\r\n\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := s.Unlock(t.Context(), "real", tok); err != nil {
		t.Fatal(err)
	}
	n2 := 0
	for _, err := range s.List(t.Context(), "real", sdk.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		n2++
	}
	if n2 != 1 {
		t.Fatalf("mailbox with mail: %d messages after Unlock, want 1", n2)
	}
	// A directory that holds anything else stays.
	if err := os.Mkdir(filepath.Join(root, "admin"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "admin", "keep"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	session(t, s, "admin")
	if _, err := os.Stat(filepath.Join(root, "admin", "keep")); err != nil {
		t.Fatalf("a directory that held a file: %v", err)
	}
}

// TestLockRemovedUnderneath: two stores (two processes sharing the
// directory) locking and unlocking a mailbox that does not exist, whose
// directory each Unlock removes: never two holders at once.
func TestLockRemovedUnderneath(t *testing.T) {
	root := t.TempDir()
	stores := []*Store{newStore(t, root), newStore(t, root)}
	var holders, most, got atomic.Int32
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[w%2]
			for range 300 {
				tok, err := s.Lock(t.Context(), "m")
				if errors.Is(err, sdk.ErrInUse) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				got.Add(1)
				if h := holders.Add(1); h > most.Load() {
					most.Store(h)
				}
				runtime.Gosched()
				holders.Add(-1)
				if err := s.Unlock(t.Context(), "m", tok); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if most.Load() > 1 {
		t.Fatalf("%d holders of one mailbox lock at once", most.Load())
	}
	if got.Load() == 0 {
		t.Fatal("no Lock succeeded")
	}
	if _, err := os.Stat(filepath.Join(root, "m")); !os.IsNotExist(err) {
		t.Fatalf("mailbox directory after the last Unlock: %v, want it removed", err)
	}
	t.Logf("%d locks taken", got.Load())
}

// TestPutLockHeldBetweenPuts: the Put lock stays held from one Put to the
// next and is released once Puts stop coming; a Put of another store (a
// second process) waits for it and finds the SourceID the first stored.
func TestPutLockHeldBetweenPuts(t *testing.T) {
	defer func(d time.Duration) { putLockLinger = d }(putLockLinger)
	putLockLinger = time.Hour
	root := t.TempDir()
	a := newStore(t, root)
	put := func(s *Store, src string) sdk.PutResult {
		t.Helper()
		res, err := s.Put(t.Context(), "m", sdk.PutOptions{SourceID: src, DeferSync: true}, strings.NewReader("Subject: "+src+"\r\n\r\nbody\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	put(a, "s1")
	f, err := os.Open(filepath.Join(root, "m", putLockName))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); !errors.Is(err, unix.EWOULDBLOCK) {
		t.Fatalf("flock of the Put lock right after a Put: %v, want EWOULDBLOCK (held for the next Put)", err)
	}
	putLockLinger = 20 * time.Millisecond
	first := put(a, "s2") // re-arms the release for 20 ms
	b := newStore(t, root)
	if res := put(b, "s2"); !res.Existing || res.UID != first.UID {
		t.Fatalf("other store's Put of a SourceID just stored: %+v, want Existing %s", res, first.UID)
	}
	b.Close() // releases b's hold
	deadline := time.Now().Add(10 * time.Second)
	for unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the Put lock is still held 10 s after the last Put")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestPutGenerationBeforeRename: a Put that stores a file has changed the
// generation in the Put lock file before its file is in place, so a
// process that dies right after the rename, lock held, still makes the
// next one rescan; the Puts after it under the same taking of the lock
// leave the generation as it is.
func TestPutGenerationBeforeRename(t *testing.T) {
	defer func(d time.Duration) { putLockLinger = d }(putLockLinger)
	putLockLinger = time.Hour
	root := t.TempDir()
	s := newStore(t, root)
	gen := func() string {
		b, _ := os.ReadFile(filepath.Join(root, "m", putLockName))
		return string(b)
	}
	var atRename []string
	durabilityHook = func(step string) {
		if step == "rename" {
			atRename = append(atRename, gen())
		}
	}
	defer func() { durabilityHook = nil }()
	before := gen()
	for i := range 3 {
		if _, err := s.Put(t.Context(), "m", sdk.PutOptions{SourceID: fmt.Sprint(i), DeferSync: true}, strings.NewReader(fmt.Sprintf("Subject: %d\r\n\r\nx\r\n", i))); err != nil {
			t.Fatal(err)
		}
	}
	if len(atRename) != 3 || atRename[0] == before || atRename[1] != atRename[0] || atRename[2] != atRename[0] {
		t.Fatalf("generation before the Puts %q, at their renames %q: want it changed by the first and kept", before, atRename)
	}
}

// TestPutLockHandedOver: a store that keeps the Put lock from one Put to
// the next lets a waiting store (another process) in within putWantEvery
// Puts, and its next Put waits until the other has had the lock: flock
// alone does not hand a released lock to a waiter, and the holder took it
// again at once (another process waited through 124–186 Puts).
func TestPutLockHandedOver(t *testing.T) {
	defer func(d time.Duration) { putLockLinger = d }(putLockLinger)
	putLockLinger = time.Hour // no release for want of Puts
	root := t.TempDir()
	// b first: cleanups run last first, and a's Close releases a lock b
	// may still wait for when the test fails.
	b, a := newStore(t, root), newStore(t, root)
	var aPuts atomic.Int64
	put := func(s *Store, src string) error {
		_, err := s.Put(t.Context(), "m", sdk.PutOptions{SourceID: src, DeferSync: true}, strings.NewReader("Subject: "+src+"\r\n\r\nbody\r\n"))
		return err
	}
	if err := put(a, "a0"); err != nil { // a holds the lock now
		t.Fatal(err)
	}
	aPuts.Store(1)
	bHad := make(chan int64, 1) // a's Puts when b's Put returned
	go func() {
		err := put(b, "b")
		bHad <- aPuts.Load()
		if err != nil {
			t.Error(err)
		}
		b.Close() // b would keep the lock for putLockLinger, an hour here
	}()
	// Wait until b waits: it holds the want file shared.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if w, err := os.Open(filepath.Join(root, "m", putWantName)); err == nil {
			err = unix.Flock(int(w.Fd()), unix.LOCK_EX|unix.LOCK_NB)
			w.Close() // releases a lock we got
			if errors.Is(err, unix.EWOULDBLOCK) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("b's Put does not wait for the Put lock a holds (no shared flock on the want file after 10 s)")
		}
		time.Sleep(time.Millisecond)
	}
	for i := 1; i <= putWantEvery+1; i++ {
		if err := put(a, fmt.Sprint("a", i)); err != nil {
			t.Fatal(err)
		}
		aPuts.Add(1)
	}
	select {
	case n := <-bHad:
		// b got the lock before a's Put after the yield could take it.
		if n > putWantEvery+1 {
			t.Fatalf("b's Put returned after %d Puts of a, want at most %d", n, putWantEvery+1)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("b's Put still waits after %d more Puts of a: a did not hand the Put lock over", putWantEvery+1)
	}
}
