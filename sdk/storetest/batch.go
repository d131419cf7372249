package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/pluginhost"
)

// The FetchBatch checks. The sdk serves FetchBatch for every store: with the
// store's own sdk.BatchFetcher when it has one (then these checks also run
// on it directly, in process), else by calling its Fetch item after item on
// one stream, with the stream's context. These checks are what a
// store's Fetch must bear on that path: being called back to back under one
// context (a lock held until the request ends deadlocks the second item), a
// reader closed after a partial read or while the host skips items, a stream
// closed or canceled mid-item, and many streams at once.

// batchLarge is the size of the large item of the batch checks: many
// chunks, and more than a flow-control window, so that a Close or a cancel
// mid-item finds the plugin still sending.
const batchLarge = 3 << 20

// batchTimeout bounds every FetchBatch of the suite, from the call to the
// end of its last item: a store whose Fetch blocks when called again on the
// same stream fails the check instead of hanging it. A variable so that the
// suite's own tests of hanging stores can shorten it.
var batchTimeout = 20 * time.Second

// batchAbandonCopies is how many copies of the large item an abandoned
// batch asks for: 18 MiB, more than gRPC's largest flow-control window
// (16 MiB), so a canceled stream cannot have been received whole already.
const batchAbandonCopies = 6

// Rounds of testFetchBatch's Abandon: a quarter in each of four ways, so a
// leak of one goroutine per batch abandoned in any one way (4 > 3) shows.
const batchLeakRounds = 16

// fdSlack is how many open file descriptors above the baseline are
// tolerated after the abandoned batches (a transport may open a connection
// lazily).
const fdSlack = 3

// Concurrency of testFetchBatch's Concurrent.
const (
	batchWorkers = 6
	batchRounds  = 3
)

// batchFixture holds the items the batch checks read, put once.
type batchFixture struct {
	bf      pluginhost.BatchFetcher
	uids    []string          // the items put, in List order
	want    map[string][]byte // what Fetch returns for each
	large   string            // the batchLarge item
	binary  string            // the item holding every octet value
	unknown string            // a valid UID the mailbox never had
	deleted string            // an item put and deleted
}

func testFetchBatch(t *testing.T, su *suite) {
	bf, ok := su.s.(pluginhost.BatchFetcher)
	if !ok {
		t.Skipf("the store (%T) does not implement pluginhost.BatchFetcher: only a store seen through a plugin "+
			"connection does (RunGRPC's store, izypop3's storehost); RunGRPC checks the FetchBatch path", su.s)
	}
	ctx, cancel := context.WithTimeout(t.Context(), batchTimeout)
	defer cancel()
	br, err := bf.FetchBatch(ctx, mailboxA, nil)
	if err != nil {
		t.Fatalf("FetchBatch of no items: %v", err)
	}
	if uid, _, err := br.Next(); err != io.EOF {
		t.Errorf("FetchBatch of no items: Next = %q, %v, want io.EOF", uid, err)
	}
	br.Close()

	fx := putBatchItems(t, su, bf)
	for _, sub := range []struct {
		name string
		fn   func(t *testing.T, su *suite, fx *batchFixture)
	}{
		{"InOrder", testBatchInOrder},
		{"Missing", testBatchMissing},
		{"SkipItems", testBatchSkip},
		{"Abandon", testBatchAbandon},
		{"Concurrent", testBatchConcurrent},
	} {
		t.Run(sub.name, func(t *testing.T) { sub.fn(t, su, fx) })
	}
}

// putBatchItems puts items of sizes around the chunk boundaries, a large
// one, binary ones and a small message, and reads each back with Fetch.
func putBatchItems(t *testing.T, su *suite, bf pluginhost.BatchFetcher) *batchFixture {
	s := su.s
	fx := &batchFixture{bf: bf, want: map[string][]byte{}, unknown: "storetest-no-such-uid-" + su.nonce}
	put1 := func(body io.Reader) string {
		t.Helper()
		res, err := s.Put(t.Context(), mailboxA, sdk.PutOptions{}, body)
		if err != nil {
			t.Fatalf("Put: %v", err)
		}
		return res.UID
	}
	mine := map[string]bool{}
	for _, n := range []int64{0, 1, chunkSize - 1, chunkSize, chunkSize + 1, batchLarge} {
		uid := put1(newGen(su.seed(), n))
		mine[uid] = true
		if n == batchLarge {
			fx.large = uid
		}
	}
	fx.binary = put1(bytes.NewReader([]byte(allOctets() + su.nonce)))
	mine[fx.binary] = true
	mine[put1(bytes.NewReader(su.message("batch")))] = true
	fx.deleted = put1(bytes.NewReader(su.message("batch deleted")))
	if nf, err := s.Delete(t.Context(), mailboxA, []string{fx.deleted}); err != nil || len(nf) != 0 {
		t.Fatalf("Delete(%q): notFound %v, err %v", fx.deleted, nf, err)
	}

	for _, it := range list(t, s, mailboxA, sdk.ListOptions{}) {
		if mine[it.UID] {
			fx.uids = append(fx.uids, it.UID)
			fx.want[it.UID] = Fetch(t, s, mailboxA, it.UID)
			if int64(len(fx.want[it.UID])) != it.Size {
				t.Fatalf("item %q: Fetch returned %d octets, List says Size %d", it.UID, len(fx.want[it.UID]), it.Size)
			}
		}
	}
	if len(fx.uids) != len(mine) {
		t.Fatalf("List shows %d of the %d items put", len(fx.uids), len(mine))
	}
	return fx
}

// start calls FetchBatch under a context bounded by batchTimeout; the
// returned function closes the batch and releases the context.
func (fx *batchFixture) start(ctx context.Context, uids []string) (pluginhost.BatchReader, func(), error) {
	ctx, cancel := context.WithTimeout(ctx, batchTimeout)
	br, err := fx.bf.FetchBatch(ctx, mailboxA, uids)
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("FetchBatch of %d items: %w", len(uids), timedOut(err))
	}
	return br, func() { br.Close(); cancel() }, nil
}

// mustStart is start for the test's goroutine.
func (fx *batchFixture) mustStart(t *testing.T, uids []string) (pluginhost.BatchReader, func()) {
	t.Helper()
	br, done, err := fx.start(t.Context(), uids)
	if err != nil {
		t.Fatal(err)
	}
	return br, done
}

// nextItem calls Next and checks that it moves to uid without error.
func nextItem(br pluginhost.BatchReader, uid string) (io.Reader, error) {
	got, r, err := br.Next()
	switch {
	case err != nil:
		return nil, fmt.Errorf("Next, expecting item %q: %w", uid, timedOut(err))
	case got != uid:
		return nil, fmt.Errorf("Next returned item %q, want %q (the order asked)", got, uid)
	case r == nil:
		return nil, fmt.Errorf("Next returned item %q with a nil reader and no error", uid)
	}
	return r, nil
}

// timedOut notes when an error is batchTimeout running out: the batch hung.
func timedOut(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("the batch hung for %v (a Fetch that blocks when called again on the same stream?): %w", batchTimeout, err)
	}
	return err
}

// diffOctets describes how got differs from want, or returns "".
func diffOctets(got, want []byte) string {
	if bytes.Equal(got, want) {
		return ""
	}
	m := min(len(got), len(want))
	i := firstDiff(got[:m], want[:m])
	if i < 0 {
		return fmt.Sprintf("%d octets, want %d (they agree up to offset %d)", len(got), len(want), m)
	}
	return fmt.Sprintf("%d octets (want %d) differing at offset %d: got %q, want %q",
		len(got), len(want), i, excerpt(got, i), excerpt(want, i))
}

// readItem reads an item to its end and checks it against want; a further
// Read must give io.EOF again.
func readItem(r io.Reader, uid string, want []byte) error {
	got, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("item %q: reading after %d octets: %w", uid, len(got), timedOut(err))
	}
	if d := diffOctets(got, want); d != "" {
		return fmt.Errorf("item %q: FetchBatch returned %s (compared with Fetch)", uid, d)
	}
	if n, err := r.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		return fmt.Errorf("item %q: Read after the end = %d, %v, want 0, io.EOF", uid, n, err)
	}
	return nil
}

// wantEnd checks that the batch is at its end, and stays there.
func wantEnd(br pluginhost.BatchReader) error {
	for range 2 {
		if uid, _, err := br.Next(); err != io.EOF {
			return fmt.Errorf("Next after the last item = %q, %v, want io.EOF", uid, timedOut(err))
		}
	}
	return nil
}

// readBatch reads a whole batch of fx's items in order and checks every one.
func (fx *batchFixture) readBatch(ctx context.Context, uids []string) error {
	br, done, err := fx.start(ctx, uids)
	if err != nil {
		return err
	}
	defer done()
	for _, uid := range uids {
		r, err := nextItem(br, uid)
		if err != nil {
			return err
		}
		if err := readItem(r, uid, fx.want[uid]); err != nil {
			return err
		}
	}
	return wantEnd(br)
}

// testBatchInOrder reads every item in List order in one batch, twice (the
// same UIDs again on the same stream), and checks each octet for octet
// against Fetch.
func testBatchInOrder(t *testing.T, su *suite, fx *batchFixture) {
	if err := fx.readBatch(t.Context(), slices.Concat(fx.uids, fx.uids)); err != nil {
		t.Error(err)
	}
	// The item reader keeps the io.Reader contract at every read size.
	br, done := fx.mustStart(t, []string{fx.binary})
	defer done()
	r, err := nextItem(br, fx.binary)
	if err != nil {
		t.Fatal(err)
	}
	if err := iotest.TestReader(r, fx.want[fx.binary]); err != nil {
		t.Errorf("item %q: %v", fx.binary, err)
	}
}

// testBatchMissing puts an unknown and a deleted UID among the items: each
// gives its UID and an error wrapping ErrNotFound, and the batch goes on.
func testBatchMissing(t *testing.T, su *suite, fx *batchFixture) {
	other := fx.uids[0]
	if other == fx.large || other == fx.binary {
		other = fx.uids[len(fx.uids)-1]
	}
	order := []string{fx.unknown, other, fx.deleted, fx.large, fx.unknown, fx.binary, fx.deleted}
	br, done := fx.mustStart(t, order)
	defer done()
	for _, uid := range order {
		if uid != fx.unknown && uid != fx.deleted {
			r, err := nextItem(br, uid)
			if err != nil {
				t.Fatal(err)
			}
			if err := readItem(r, uid, fx.want[uid]); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, r, err := br.Next()
		if err == nil {
			t.Fatalf("Next for missing item %q returned item %q without an error", uid, got)
		}
		if !errors.Is(err, sdk.ErrNotFound) {
			t.Fatalf("Next for missing item %q: error %q, want one wrapping sdk.ErrNotFound", uid, timedOut(err))
		}
		if got != uid || r != nil {
			t.Errorf("Next for missing item %q returned UID %q and reader %v, want its UID and nil", uid, got, r)
		}
	}
	if err := wantEnd(br); err != nil {
		t.Error(err)
	}
}

// testBatchSkip reads the items in four passes, each item in a different way
// in each pass: skipped unread, half read, read exactly to its size without
// waiting for the end, read to the end. Every octet read must be exact: what
// the host leaves unread of one item never shows in the next.
func testBatchSkip(t *testing.T, su *suite, fx *batchFixture) {
	const ways = 4
	var order []string
	var how []int
	for pass := range ways {
		for j, uid := range fx.uids {
			order = append(order, uid)
			how = append(how, (j+pass)%ways)
		}
	}
	br, done := fx.mustStart(t, order)
	defer done()
	for i, uid := range order {
		r, err := nextItem(br, uid)
		if err != nil {
			t.Fatalf("after %d items read in parts: %v", i, err)
		}
		want := fx.want[uid]
		switch how[i] {
		case 0: // skipped
		case 1, 2:
			n := len(want)
			if how[i] == 1 {
				n /= 2
			}
			got := make([]byte, n)
			if _, err := io.ReadFull(r, got); err != nil {
				t.Fatalf("item %q (after %d items read in parts): reading its first %d octets: %v", uid, i, n, timedOut(err))
			}
			if d := diffOctets(got, want[:n]); d != "" {
				t.Fatalf("item %q (after %d items read in parts): its first %d octets: %s", uid, i, n, d)
			}
		case 3:
			if err := readItem(r, uid, want); err != nil {
				t.Fatalf("after %d items read in parts: %v", i, err)
			}
		}
	}
	if err := wantEnd(br); err != nil {
		t.Error(err)
	}
}

// testBatchAbandon abandons batches of the large item in four ways (Close
// before Next, Close after part of an item, Close after Next without
// reading, cancel after part of an item) and checks that every one ends, a
// canceled one with an error rather than a silent truncation, that no
// goroutine (and, where the store runs in this process, no file) is left
// behind, and that the store still serves the items whole.
func testBatchAbandon(t *testing.T, su *suite, fx *batchFixture) {
	order := make([]string, batchAbandonCopies)
	for i := range order {
		order[i] = fx.large
	}
	want := fx.want[fx.large]
	partial := make([]byte, chunkSize+chunkSize/2)

	abandon := func(how int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), batchTimeout)
		defer cancel()
		br, err := fx.bf.FetchBatch(ctx, mailboxA, order)
		if err != nil {
			t.Fatalf("FetchBatch: %v", err)
		}
		defer br.Close()
		if how == 0 {
			closeBatch(t, br)
			return
		}
		r, err := nextItem(br, fx.large)
		if err != nil {
			t.Fatal(err)
		}
		if how == 2 {
			closeBatch(t, br)
			return
		}
		if _, err := io.ReadFull(r, partial); err != nil {
			t.Fatalf("reading the first %d octets: %v", len(partial), timedOut(err))
		}
		if d := diffOctets(partial, want[:len(partial)]); d != "" {
			t.Fatalf("the first %d octets: %s", len(partial), d)
		}
		if how == 1 {
			closeBatch(t, br)
			return
		}
		cancel()
		drainCanceled(t, br, r, len(partial), want)
	}

	// Warm up: let the store and the transport start what they keep.
	for how := range 4 {
		abandon(how)
	}
	if err := fx.readBatch(t.Context(), fx.uids); err != nil {
		t.Fatal(err)
	}
	base := settledGoroutines()
	fds := openFiles()

	for i := range batchLeakRounds {
		abandon(i % 4)
	}
	checkGoroutines(t, base, fmt.Sprintf("%d abandoned batches", batchLeakRounds))
	if fds >= 0 {
		if n := openFiles(); n > fds+fdSlack {
			t.Errorf("%d abandoned batches left files open: %d before, %d after", batchLeakRounds, fds, n)
		}
	}
	if err := fx.readBatch(t.Context(), fx.uids); err != nil {
		t.Errorf("after abandoned batches: %v", err)
	}
}

// closeBatch closes br and checks that Next then fails at once.
func closeBatch(t *testing.T, br pluginhost.BatchReader) {
	t.Helper()
	if err := br.Close(); err != nil {
		t.Logf("Close of a batch mid-stream: %v", err)
	}
	if uid, r, err := br.Next(); err == nil || err == io.EOF {
		t.Errorf("Next after Close = %q, %v, %v, want an error", uid, r, err)
	}
}

// drainCanceled reads what a batch gives after its context was canceled
// during item 0 (r, read up to off): it must end within settleTimeout and
// with an error, and no item may end cleanly short of its octets.
func drainCanceled(t *testing.T, br pluginhost.BatchReader, r io.Reader, off int, want []byte) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			rest, err := io.ReadAll(r)
			if err != nil {
				done <- nil // the error a cancel must give
				return
			}
			if off+len(rest) != len(want) {
				done <- fmt.Errorf("after the cancel, copy %d of the large item ended cleanly after %d of %d octets (a silent truncation)",
					i, off+len(rest), len(want))
				return
			}
			_, r, err = br.Next()
			switch {
			case err == io.EOF:
				done <- errors.New("after the cancel, the batch ended cleanly with every item whole (the cancel was ignored)")
				return
			case err != nil:
				done <- nil
				return
			}
			off = 0
		}
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(settleTimeout):
		br.Close()
		t.Fatalf("a canceled batch still had not ended after %v", settleTimeout)
	}
}

// testBatchConcurrent runs batches from several goroutines at once, in
// rotated orders, while another goroutine Fetches, moves the same items
// between tags and puts and deletes others (run it with -race).
func testBatchConcurrent(t *testing.T, su *suite, fx *batchFixture) {
	s := su.s
	ctx := t.Context()
	errs := make(chan error, batchWorkers*batchRounds+8)
	var wg sync.WaitGroup
	for w := range batchWorkers {
		wg.Go(func() {
			for r := range batchRounds {
				k := (w*batchRounds + r) % len(fx.uids)
				order := slices.Concat(fx.uids[k:], fx.uids[:k])
				if w != 0 { // one worker reads the large item; the others leave it out
					order = slices.DeleteFunc(order, func(u string) bool { return u == fx.large })
				}
				if err := fx.readBatch(ctx, order); err != nil {
					errs <- fmt.Errorf("worker %d, round %d: %w", w, r, err)
					return
				}
			}
		})
	}
	stop := make(chan struct{})
	var mutator sync.WaitGroup
	mutator.Go(func() {
		tags := []sdk.Tag{sdk.TagArchive, sdk.TagUnread}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			uid := fx.uids[i%len(fx.uids)]
			if uid != fx.large {
				got, err := tryFetch(ctx, s, mailboxA, uid)
				if err != nil {
					errs <- fmt.Errorf("mutator: Fetch(%q) during the batches: %w", uid, err)
					return
				}
				if d := diffOctets(got, fx.want[uid]); d != "" {
					errs <- fmt.Errorf("mutator: Fetch(%q) during the batches returned %s", uid, d)
					return
				}
			}
			if nf, err := s.SetTag(ctx, mailboxA, []string{uid}, tags[i%2]); err != nil || len(nf) != 0 {
				errs <- fmt.Errorf("mutator: SetTag(%q): notFound %v, err %v", uid, nf, err)
				return
			}
			res, err := s.Put(ctx, mailboxA, sdk.PutOptions{}, bytes.NewReader(su.message("concurrent batch")))
			if err != nil {
				errs <- fmt.Errorf("mutator: Put: %w", err)
				return
			}
			if nf, err := s.Delete(ctx, mailboxA, []string{res.UID}); err != nil || len(nf) != 0 {
				errs <- fmt.Errorf("mutator: Delete(%q): notFound %v, err %v", res.UID, nf, err)
				return
			}
		}
	})
	wg.Wait()
	close(stop)
	mutator.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if _, err := s.SetTag(ctx, mailboxA, fx.uids, sdk.TagUnread); err != nil {
		t.Errorf("SetTag of the batch items back to unread: %v", err)
	}
}

// tryFetch reads a whole item with Fetch.
func tryFetch(ctx context.Context, s sdk.Store, mailbox, uid string) ([]byte, error) {
	rc, err := s.Fetch(ctx, mailbox, uid)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, err
	}
	return b, rc.Close()
}

// checkGoroutines waits up to goroutineSettle for the goroutine count to
// come back within goroutineSlack of base, and fails t with every
// goroutine's stack if it does not.
func checkGoroutines(t *testing.T, base int, what string) {
	t.Helper()
	deadline := time.Now().Add(goroutineSettle)
	n := runtime.NumGoroutine()
	for n > base+goroutineSlack && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	if n > base+goroutineSlack {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Errorf("%s left goroutines behind: %d before, %d after %v\n%s", what, base, n, goroutineSettle, buf)
	}
}

// openFiles returns the number of files the process has open, or -1 where
// that is not known (no /proc/self/fd).
func openFiles() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}
