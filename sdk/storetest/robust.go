package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/izyware/izypop3/sdk"
)

var errInjected = errors.New("storetest: injected body read error")

// testPutBodyFails checks that a Put whose body reader fails returns an
// error and stores nothing.
func testPutBodyFails(t *testing.T, su *suite) {
	s := su.s
	before := takeSnapshot(t, s, mailboxA)
	source := "pop3://u@h.invalid:110/" + su.nonce + "-fail"
	for _, n := range []int64{0, 100, 3*chunkSize + 17} {
		body := &failingReader{r: newGen(su.seed(), n), err: errInjected}
		res, err := s.Put(t.Context(), mailboxA, sdk.PutOptions{SourceID: source}, body)
		if err == nil {
			t.Errorf("Put whose body fails after %d octets succeeded: %+v", n, res)
		}
	}
	before.check(t, takeSnapshot(t, s, mailboxA), "a Put whose body failed")

	// The failed Puts left no trace: their SourceID is free.
	res := put(t, s, mailboxA, sdk.PutOptions{SourceID: source}, su.message("after failed put"))
	if res.Existing {
		t.Errorf("Put after failed Puts with the same SourceID reports Existing")
	}
}

// testCanceledContext checks that every method honours an already canceled
// context: it fails and changes nothing.
func testCanceledContext(t *testing.T, su *suite) {
	s := su.s
	uid := put(t, s, mailboxA, sdk.PutOptions{}, su.message("canceled")).UID
	before := takeSnapshot(t, s, mailboxA)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	if _, err := s.Put(ctx, mailboxA, sdk.PutOptions{}, bytes.NewReader(su.message("canceled put"))); err == nil {
		t.Errorf("Put with a canceled context succeeded")
	}
	if _, err := tryList(ctx, s, mailboxA, sdk.ListOptions{}); err == nil {
		t.Errorf("List with a canceled context yielded no error")
	}
	if _, err := s.Stat(ctx, mailboxA); err == nil {
		t.Errorf("Stat with a canceled context succeeded")
	}
	if _, err := s.SetTag(ctx, mailboxA, []string{uid}, sdk.TagArchive); err == nil {
		t.Errorf("SetTag with a canceled context succeeded")
	}
	if _, err := s.Delete(ctx, mailboxA, []string{uid}); err == nil {
		t.Errorf("Delete with a canceled context succeeded")
	}
	if rc, err := s.Fetch(ctx, mailboxA, uid); err == nil {
		_, err := io.ReadAll(rc)
		rc.Close()
		if err == nil {
			t.Errorf("Fetch with a canceled context returned the whole message")
		}
	}
	before.check(t, takeSnapshot(t, s, mailboxA), "calls with a canceled context")
}

// abandonSize is the size of the message testAbandonedFetch reads part of:
// larger than any buffering between store and reader is likely to hold.
const abandonSize = 8 << 20

// testAbandonedFetch reads part of a large message and then cancels the
// context or just closes the reader (or closes it unread), many times, and
// checks that every stream ends and no goroutine is left behind.
func testAbandonedFetch(t *testing.T, su *suite) {
	s := su.s
	seed := su.seed()
	res, err := s.Put(t.Context(), mailboxA, sdk.PutOptions{}, newGen(seed, abandonSize))
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	partial := make([]byte, chunkSize+chunkSize/2)

	// abandon fetches the message and then: cancels after reading part of
	// it (how 0), closes after reading part (1), or closes unread (2).
	abandon := func(how int) {
		t.Helper()
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		rc, err := s.Fetch(ctx, mailboxA, res.UID)
		if err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		if how == 2 {
			if err := rc.Close(); err != nil {
				t.Logf("Close of an unread Fetch: %v", err)
			}
			return
		}
		cancelFirst := how == 0
		if _, err := io.ReadFull(rc, partial); err != nil {
			t.Fatalf("reading the first %d octets: %v", len(partial), err)
		}
		if cancelFirst {
			cancel()
			n, err := readWithin(t, rc)
			if err == nil && int64(len(partial))+n != abandonSize {
				t.Errorf("after cancel the stream ended cleanly after %d of %d octets (a silent truncation)",
					int64(len(partial))+n, abandonSize)
			}
		}
		if err := rc.Close(); err != nil && !cancelFirst {
			t.Logf("Close of a half-read Fetch: %v", err)
		}
	}

	// Warm up: let the store and its transport start whatever they keep.
	for how := range 3 {
		abandon(how)
	}
	if got := Fetch(t, s, mailboxA, res.UID); int64(len(got)) != abandonSize {
		t.Fatalf("full Fetch returned %d octets, want %d", len(got), abandonSize)
	}
	base := settledGoroutines()

	for i := range leakRounds {
		abandon(i % 3)
	}
	checkGoroutines(t, base, fmt.Sprintf("%d abandoned Fetches", leakRounds))

	// The store still serves the message whole.
	rc, err := s.Fetch(t.Context(), mailboxA, res.UID)
	if err != nil {
		t.Fatalf("Fetch after abandoned Fetches: %v", err)
	}
	defer rc.Close()
	if _, err := compareStreams(rc, newGen(seed, abandonSize)); err != nil {
		t.Errorf("Fetch after abandoned Fetches: %v", err)
	}
}

// settledGoroutines waits briefly for the goroutine count to stop falling
// and returns it.
func settledGoroutines() int {
	n := runtime.NumGoroutine()
	for range 20 {
		time.Sleep(25 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m >= n {
			return min(m, n)
		}
		n = m
	}
	return n
}

// Concurrency of testConcurrent.
const (
	concurrentWorkers = 6
	concurrentRounds  = 6
)

// testConcurrent runs Put/List/Fetch/SetTag/Stat from several goroutines at
// once (run it with -race) and checks every worker's own items afterwards.
func testConcurrent(t *testing.T, su *suite) {
	s := su.s
	ctx := t.Context()
	type own struct {
		uid  string
		seed uint64
		size int64
	}
	results := make([][]own, concurrentWorkers)
	errs := make(chan error, concurrentWorkers*concurrentRounds*4+1)
	var wg sync.WaitGroup
	for w := range concurrentWorkers {
		wg.Go(func() {
			for r := range concurrentRounds {
				o := own{seed: su.seed(), size: int64(1000 + (w*concurrentRounds+r)*9973)}
				res, err := s.Put(ctx, mailboxA, sdk.PutOptions{}, newGen(o.seed, o.size))
				if err != nil {
					errs <- fmt.Errorf("worker %d: Put: %w", w, err)
					return
				}
				o.uid = res.UID
				results[w] = append(results[w], o)
				items, err := tryList(ctx, s, mailboxA, sdk.ListOptions{})
				if err != nil {
					errs <- fmt.Errorf("worker %d: List: %w", w, err)
					return
				}
				if it, ok := findItem(items, o.uid); !ok || it.Size != o.size {
					errs <- fmt.Errorf("worker %d: List shows its item %q as %+v (found %v), want Size %d", w, o.uid, it, ok, o.size)
				}
				rc, err := s.Fetch(ctx, mailboxA, o.uid)
				if err != nil {
					errs <- fmt.Errorf("worker %d: Fetch: %w", w, err)
					return
				}
				_, err = compareStreams(rc, newGen(o.seed, o.size))
				rc.Close()
				if err != nil {
					errs <- fmt.Errorf("worker %d: Fetch: %w", w, err)
				}
				if nf, err := s.SetTag(ctx, mailboxA, []string{o.uid}, sdk.TagArchive); err != nil || len(nf) != 0 {
					errs <- fmt.Errorf("worker %d: SetTag: notFound %v, err %v", w, nf, err)
				}
				if _, err := s.Stat(ctx, mailboxA); err != nil {
					errs <- fmt.Errorf("worker %d: Stat: %w", w, err)
				}
			}
		})
	}
	// One more goroutine keeps listing the archive and moving items in it
	// back and forth while the workers run.
	stop := make(chan struct{})
	var lister sync.WaitGroup
	lister.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			items, err := tryList(ctx, s, mailboxA, sdk.ListOptions{Tags: []sdk.Tag{sdk.TagArchive}, Limit: 3})
			if err != nil {
				errs <- fmt.Errorf("lister: List: %w", err)
				return
			}
			for _, it := range items {
				if it.Tag != sdk.TagArchive {
					errs <- fmt.Errorf("lister: List{Tags: [archive]} yields %q tagged %q", it.UID, it.Tag)
					return
				}
			}
			if _, err := s.SetTag(ctx, mailboxA, uids(items), sdk.TagArchive); err != nil {
				errs <- fmt.Errorf("lister: SetTag: %w", err)
				return
			}
		}
	})
	wg.Wait()
	close(stop)
	lister.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	items := list(t, s, mailboxA, sdk.ListOptions{})
	seen := map[string]bool{}
	for _, rs := range results {
		for _, o := range rs {
			if seen[o.uid] {
				t.Errorf("concurrent Puts returned UID %q twice", o.uid)
			}
			seen[o.uid] = true
			it, ok := findItem(items, o.uid)
			if !ok || it.Tag != sdk.TagArchive || it.Size != o.size {
				t.Errorf("after the concurrent run item %q is %+v (found %v), want archive, Size %d", o.uid, it, ok, o.size)
			}
		}
	}
	if len(seen) != concurrentWorkers*concurrentRounds {
		t.Errorf("%d items stored, want %d", len(seen), concurrentWorkers*concurrentRounds)
	}
}
