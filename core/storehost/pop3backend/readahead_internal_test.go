package pop3backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/pluginhost"
)

// batches is a FetchBatch over an in-memory mailbox for the readAhead unit
// tests: it counts the streams opened and still open, can fail items and
// can hold Next until its context ends (a stuck plugin).
type batches struct {
	mu      sync.Mutex
	uids    []string
	failing map[string]bool
	stuck   bool
	started [][]string // the uids of each stream, in order
	ctxs    []context.Context
	open    int
	err     error // returned by the next fetch when set
}

func newBatches(n int) *batches {
	b := &batches{failing: make(map[string]bool)}
	for i := range n {
		b.uids = append(b.uids, fmt.Sprintf("u%d", i))
	}
	return b
}

func body(uid string) string { return "Subject: " + uid + "\r\n\r\nbody of " + uid + "\r\n" }

func (b *batches) fetch(ctx context.Context, uids []string) (pluginhost.BatchReader, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return nil, b.err
	}
	b.started = append(b.started, uids)
	b.ctxs = append(b.ctxs, ctx)
	b.open++
	return &batchReader{b: b, ctx: ctx, uids: uids}, nil
}

func (b *batches) counts() (started, open int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.started), b.open
}

type batchReader struct {
	b      *batches
	ctx    context.Context
	uids   []string
	closed bool
}

func (r *batchReader) Next() (string, io.Reader, error) {
	r.b.mu.Lock()
	stuck := r.b.stuck
	r.b.mu.Unlock()
	if stuck {
		<-r.ctx.Done()
	}
	if err := r.ctx.Err(); err != nil {
		return "", nil, err
	}
	if len(r.uids) == 0 {
		return "", nil, io.EOF
	}
	uid := r.uids[0]
	r.uids = r.uids[1:]
	r.b.mu.Lock()
	fail := r.b.failing[uid]
	r.b.mu.Unlock()
	if fail {
		return uid, nil, sdk.ErrNotFound
	}
	return uid, &ctxReader{ctx: r.ctx, s: body(uid)}, nil
}

func (r *batchReader) Close() error {
	r.b.mu.Lock()
	defer r.b.mu.Unlock()
	if !r.closed {
		r.closed = true
		r.b.open--
	}
	return nil
}

// ctxReader reads s one octet at a time, failing once ctx ends.
type ctxReader struct {
	ctx context.Context
	s   string
}

func (r *ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	if r.s == "" {
		return 0, io.EOF
	}
	p[0] = r.s[0]
	r.s = r.s[1:]
	return 1, nil
}

// newRA returns a readAhead over b's snapshot, closed at the end of the test.
func newRA(t *testing.T, b *batches, idle time.Duration) *readAhead {
	t.Helper()
	ra := newReadAhead(b.fetch, b.uids, idle)
	t.Cleanup(ra.close)
	return ra
}

// readItem opens message i and, when the read-ahead gives it, reads it
// whole and checks its octets; it reports whether the read-ahead gave it.
func readItem(t *testing.T, ra *readAhead, i int) bool {
	t.Helper()
	rc := ra.open(context.Background(), i)
	if rc == nil {
		return false
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("message %d: %v", i, err)
	}
	if want := body(ra.uids[i]); string(got) != want {
		t.Fatalf("message %d: %q, want %q", i, got, want)
	}
	return true
}

func wantCounts(t *testing.T, b *batches, started, open int) {
	t.Helper()
	if s, o := b.counts(); s != started || o != open {
		t.Fatalf("%d streams started, %d open; want %d, %d", s, o, started, open)
	}
}

func TestReadAheadRun(t *testing.T) {
	const n = 2*readAheadItems + 10
	b := newBatches(n)
	ra := newRA(t, b, time.Hour)
	if readItem(t, ra, 0) {
		t.Fatal("the first message came from a stream: a single RETR must be one Fetch")
	}
	wantCounts(t, b, 0, 0)
	for i := 1; i < n; i++ {
		if !readItem(t, ra, i) {
			t.Fatalf("message %d of a run not from the read-ahead", i)
		}
	}
	// 1..256, 257..512, 513..521.
	wantCounts(t, b, 3, 1)
	for k, want := range []int{readAheadItems, readAheadItems, n - 1 - 2*readAheadItems} {
		if got := len(b.started[k]); got != want {
			t.Errorf("stream %d asked for %d items, want %d", k, got, want)
		}
	}
	if b.started[0][0] != "u1" || b.started[1][0] != fmt.Sprint("u", 1+readAheadItems) {
		t.Errorf("streams start at %s and %s", b.started[0][0], b.started[1][0])
	}
	if readItem(t, ra, n) {
		t.Error("a message after the snapshot came from a stream")
	}
	wantCounts(t, b, 3, 0)
	ra.close()
	wantCounts(t, b, 3, 0)
}

func TestReadAheadJump(t *testing.T) {
	b := newBatches(20)
	ra := newRA(t, b, time.Hour)
	for _, i := range []int{4, 2, 9, 9, 0} {
		if readItem(t, ra, i) {
			t.Errorf("message %d of a random walk from a stream", i)
		}
	}
	wantCounts(t, b, 0, 0)
	readItem(t, ra, 1) // follows 0: a stream 1..19
	wantCounts(t, b, 1, 1)
	if readItem(t, ra, 5) {
		t.Error("a jump was served from the stream")
	}
	wantCounts(t, b, 1, 0)
	// A skipped message (a DELE'd one) breaks the run too; the next
	// consecutive pair opens a stream again.
	readItem(t, ra, 7)
	readItem(t, ra, 8)
	wantCounts(t, b, 2, 1)
	if got := b.started[1][0]; got != "u8" {
		t.Errorf("second stream starts at %s, want u8", got)
	}
	ra.close()
	wantCounts(t, b, 2, 0)
}

func TestReadAheadItemError(t *testing.T) {
	b := newBatches(10)
	b.failing["u3"] = true
	ra := newRA(t, b, time.Hour)
	readItem(t, ra, 0)
	readItem(t, ra, 1)
	readItem(t, ra, 2)
	// The item failed in the stream: the caller's Fetch tells the client;
	// the stream goes on with the next.
	if readItem(t, ra, 3) {
		t.Fatal("a failed item was served")
	}
	for i := 4; i < 10; i++ {
		if !readItem(t, ra, i) {
			t.Fatalf("message %d after a failed item not from the stream", i)
		}
	}
	wantCounts(t, b, 1, 1)
}

// An item closed before its end (the send failed) leaves a stream that is
// not used again.
func TestReadAheadPartialItem(t *testing.T) {
	b := newBatches(10)
	ra := newRA(t, b, time.Hour)
	readItem(t, ra, 0)
	rc := ra.open(context.Background(), 1)
	if rc == nil {
		t.Fatal("message 1 not from the stream")
	}
	if _, err := io.ReadFull(rc, make([]byte, 3)); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	rc.Close() // twice is harmless
	wantCounts(t, b, 1, 1)
	if !readItem(t, ra, 2) {
		t.Fatal("message 2 not from a new stream")
	}
	wantCounts(t, b, 2, 1)
	if got := b.started[1][0]; got != "u2" {
		t.Errorf("new stream starts at %s, want u2", got)
	}
}

func TestReadAheadStuckStore(t *testing.T) {
	b := newBatches(10)
	ra := newRA(t, b, time.Hour)
	readItem(t, ra, 0)
	readItem(t, ra, 1)
	b.mu.Lock()
	b.stuck = true
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if rc := ra.open(ctx, 2); rc != nil {
		t.Fatal("a stuck stream gave an item")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("open waited %v for a stuck stream", d)
	}
	wantCounts(t, b, 1, 0)

	// A context that ends while an item is read breaks the item.
	b.mu.Lock()
	b.stuck = false
	b.mu.Unlock()
	readItem(t, ra, 3)
	ctx, cancel = context.WithCancel(context.Background())
	rc := ra.open(ctx, 4)
	if rc == nil {
		t.Fatal("message 4 not from the stream")
	}
	cancel()
	<-b.ctxs[1].Done() // the stream's context follows the call's
	if _, err := io.ReadAll(rc); err == nil {
		t.Fatal("an item read on after its call's context ended")
	}
	rc.Close()
	if !readItem(t, ra, 5) {
		t.Fatal("message 5 not from a new stream")
	}
	wantCounts(t, b, 3, 1)
}

// TestReadAheadSharedContext: calls that share a context (a pop3server
// session's RETRs) are bounded by it while an item is waited for or read,
// not between items.
func TestReadAheadSharedContext(t *testing.T) {
	b := newBatches(10)
	ra := newRA(t, b, time.Hour)
	readItem(t, ra, 0)
	ctx, cancel := context.WithCancel(context.Background())
	read := func(i int) {
		t.Helper()
		rc := ra.open(ctx, i)
		if rc == nil {
			t.Fatalf("message %d not from the stream", i)
		}
		if got, err := io.ReadAll(rc); err != nil || string(got) != body(ra.uids[i]) {
			t.Fatalf("message %d: %q, %v", i, got, err)
		}
		rc.Close()
	}
	read(1)
	read(2)
	cancel() // between items: the stream stays
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	read(3)
	read(4)
	wantCounts(t, b, 1, 1)
	rc := ra.open(ctx, 5)
	if rc == nil {
		t.Fatal("message 5 not from the stream")
	}
	cancel()
	<-b.ctxs[0].Done() // the stream's context follows the call's
	if _, err := io.ReadAll(rc); err == nil {
		t.Fatal("an item read on after its call's context ended")
	}
	rc.Close()
	if rc := ra.open(ctx, 6); rc != nil {
		t.Fatal("an ended context got an item")
	}
	wantCounts(t, b, 2, 0) // the new stream's opening saw the end
}

func TestReadAheadFetchFails(t *testing.T) {
	b := newBatches(5)
	b.err = errors.Join(sdk.ErrUnsupported, errors.New("old plugin"))
	ra := newRA(t, b, time.Hour)
	for i := range 5 {
		if readItem(t, ra, i) {
			t.Fatalf("message %d served without a stream", i)
		}
	}
	wantCounts(t, b, 0, 0)
}

func TestReadAheadIdle(t *testing.T) {
	b := newBatches(10)
	ra := newRA(t, b, 50*time.Millisecond)
	readItem(t, ra, 0)
	readItem(t, ra, 1)
	wantCounts(t, b, 1, 1)
	// An item held open is not idle time.
	rc := ra.open(context.Background(), 2)
	if rc == nil {
		t.Fatal("message 2 not from the stream")
	}
	time.Sleep(150 * time.Millisecond)
	wantCounts(t, b, 1, 1)
	io.Copy(io.Discard, rc)
	rc.Close()
	// Unused for the idle time: closed; the next message opens another.
	deadline := time.Now().Add(5 * time.Second)
	for _, o := b.counts(); o != 0; _, o = b.counts() {
		if time.Now().After(deadline) {
			t.Fatal("idle stream still open")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !readItem(t, ra, 3) {
		t.Fatal("message 3 not from a new stream")
	}
	wantCounts(t, b, 2, 1)
	// A stream in steady use stays open.
	for i := 4; i < 10; i++ {
		time.Sleep(10 * time.Millisecond)
		readItem(t, ra, i)
	}
	wantCounts(t, b, 2, 1)
}
