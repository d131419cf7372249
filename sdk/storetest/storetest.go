// Package storetest is the conformance suite every izypop3 mimestore runs.
//
// A store author calls Run from a test with a function that returns a fresh,
// ready store (configured, empty or not):
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) sdk.Store {
//			s := mystore.New()
//			if err := s.Configure(t.Context(), map[string]string{"path": t.TempDir()}); err != nil {
//				t.Fatal(err)
//			}
//			return s
//		})
//	}
//
// RunGRPC runs the same suite with each store served over real gRPC inside
// the test process, the way izypop3 sees a plugin; run both.
//
// Each top-level subtest gets its own store from newStore and closes it (if
// it implements sdk.Closer) at the end. The suite works in mailboxes whose
// names start with "storetest-" and relies only on the items it puts itself,
// so a store that starts with content of its own (a generated or seeded
// store) passes as long as that content does not repeat the suite's octets.
//
// What is checked: UID syntax, uniqueness and stability; Size == octets
// fetched and WireSize == sdk.WireSizeOf; round trips at sizes around the
// 256 KiB chunk size, above gRPC's 4 MiB message limit and at 50 MiB
// (skipped only with -short); binary safety (NUL, lone CR, bare LF, 8-bit,
// lines starting with "."); tags, List filters and Limit, Stat; batch
// SetTag/Delete with unknown UIDs; SourceID and duplicate detection; mailbox
// isolation and invalid mailbox names; a Put whose body fails; canceled
// contexts and abandoned Fetches (no goroutine left behind); concurrent use
// (meaningful under -race); the optional interfaces a store implements
// (Configurer strictness, TopFetcher, Locker, Checker, Syncer); and, when the store
// under test implements pluginhost.BatchFetcher (= sdk.BatchFetcher:
// RunGRPC's store, izypop3's storehost.Host for a store tested as its built
// binary, or a store with its own batch path), the FetchBatch path: every item
// exact in List order, unknown and deleted UIDs in the middle (ErrNotFound,
// the batch goes on), items skipped or read in part, batches closed or
// canceled mid-item (no goroutine or, in process, no file left behind) and
// many batches at once. Run skips those (with the reason logged) for a store
// without FetchBatch.
//
// Two checks call a store outside its usual sequence: Configurer calls
// Configure a second time, with an unknown key, and expects ErrInvalid
// naming the key; CanceledContext expects every method to fail on an
// already canceled context. The 50 MiB round trip is skipped under -short
// (and only then). AbandonedFetch counts the process's goroutines, so do not
// run Run in parallel (t.Parallel) with other tests that start goroutines.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/pluginhost"
)

// Mailboxes the suite works in.
const (
	mailboxA = "storetest-a"
	mailboxB = "storetest-b"
)

// chunkSize is the chunk size bodies cross the plugin boundary in; the
// round-trip sizes straddle it.
const chunkSize = pluginhost.ChunkSize

// Round-trip sizes beyond the chunk boundaries.
const (
	sizeOverGRPCLimit = 5 << 20  // above gRPC's 4 MiB default receive limit
	sizeHuge          = 50 << 20 // a large attachment; skipped only with -short
)

// settleTimeout bounds a read of a Fetch stream that must not hang.
const settleTimeout = 10 * time.Second

// goroutineSettle is how long the suite waits for the goroutines of
// abandoned Fetches to end.
const goroutineSettle = 5 * time.Second

// goroutineSlack is how many goroutines above the baseline are tolerated
// after abandoned Fetches (transports start helpers lazily). The check
// abandons leakRounds Fetches, a third in each of three ways, so a leak of
// one goroutine per Fetch abandoned in any one way (4 > 3) shows.
const (
	goroutineSlack = 3
	leakRounds     = 12
)

// suite is the state shared by the subtests of one Run.
type suite struct {
	s     sdk.Store
	nonce string        // distinguishes this run's messages from a store's own content
	seq   *atomic.Int64 // message counter, shared by all subtests of a Run
}

type testCase struct {
	name string
	fn   func(t *testing.T, su *suite)
}

var cases = []testCase{
	{"RoundTripSizes", testRoundTripSizes},
	{"BinarySafety", testBinarySafety},
	{"PutResultAndItem", testPutResultAndItem},
	{"UIDs", testUIDs},
	{"Tags", testTags},
	{"ListFilterAndLimit", testListFilterAndLimit},
	{"StatMatchesList", testStatMatchesList},
	{"InvalidTag", testInvalidTag},
	{"BatchUnknownUIDs", testBatchUnknownUIDs},
	{"FetchNotFound", testFetchNotFound},
	{"SourceID", testSourceID},
	{"SourceIDConcurrent", testSourceIDConcurrent},
	{"Duplicates", testDuplicates},
	{"MailboxIsolation", testMailboxIsolation},
	{"InvalidMailbox", testInvalidMailbox},
	{"PutBodyFails", testPutBodyFails},
	{"CanceledContext", testCanceledContext},
	{"AbandonedFetch", testAbandonedFetch},
	{"Concurrent", testConcurrent},
	{"Configurer", testConfigurer},
	{"TopFetcher", testTopFetcher},
	{"Locker", testLocker},
	{"Checker", testChecker},
	{"Syncer", testSyncer},
	{"FetchBatch", testFetchBatch},
	{"PutBatch", testPutBatch},
}

// Run runs the conformance suite. newStore is called once per subtest and
// must return a fresh store, ready for use (Configure already called if the
// store needs it); it may register cleanups with t. A store implementing
// sdk.Closer is closed when its subtest ends.
func Run(t *testing.T, newStore func(t *testing.T) sdk.Store) {
	t.Helper()
	seq := new(atomic.Int64)
	nonce := newNonce(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			if s == nil {
				t.Fatal("newStore returned nil")
			}
			if c, ok := s.(sdk.Closer); ok {
				t.Cleanup(func() {
					if err := c.Close(); err != nil {
						t.Errorf("Close: %v", err)
					}
				})
			}
			tc.fn(t, &suite{s: s, nonce: nonce, seq: seq})
		})
	}
}

func newNonce(t *testing.T) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// message returns a small, well-formed CRLF message unique to this run.
func (su *suite) message(what string) []byte {
	n := su.seq.Add(1)
	return fmt.Appendf(nil, "From: storetest <storetest@example.invalid>\r\n"+
		"To: store <store@example.invalid>\r\n"+
		"Subject: storetest %s %d\r\n"+
		"Message-ID: <%s.%d@storetest.invalid>\r\n"+
		"\r\n"+
		"Body of %s.\r\n"+
		".a line starting with a dot\r\n"+
		"last line\r\n", what, n, su.nonce, n, what)
}

// seed returns a seed for genReader unique to this run.
func (su *suite) seed() uint64 {
	h := sha256.Sum256(fmt.Appendf(nil, "%s/%d", su.nonce, su.seq.Add(1)))
	var x uint64
	for _, b := range h[:8] {
		x = x<<8 | uint64(b)
	}
	return x
}

// --- helpers ---------------------------------------------------------------

func hexSHA(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func put(t *testing.T, s sdk.Store, mailbox string, opts sdk.PutOptions, body []byte) sdk.PutResult {
	t.Helper()
	res, err := s.Put(t.Context(), mailbox, opts, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("Put(%q, %+v, %d octets): %v", mailbox, opts, len(body), err)
	}
	if !sdk.ValidUID(res.UID) {
		t.Fatalf("Put returned invalid UID %q", res.UID)
	}
	return res
}

// List returns the items of mailbox that have any of tags (every item
// when there are none), in the store's order; tb fails if List fails. It is
// the helper the suite uses, exported for a store's own tests.
func List(tb testing.TB, s sdk.Store, mailbox string, tags ...sdk.Tag) []sdk.Item {
	tb.Helper()
	return list(tb, s, mailbox, sdk.ListOptions{Tags: tags})
}

func list(tb testing.TB, s sdk.Store, mailbox string, opts sdk.ListOptions) []sdk.Item {
	tb.Helper()
	items, err := tryList(tb.Context(), s, mailbox, opts)
	if err != nil {
		tb.Fatalf("List(%q, %+v): %v", mailbox, opts, err)
	}
	return items
}

func tryList(ctx context.Context, s sdk.Store, mailbox string, opts sdk.ListOptions) ([]sdk.Item, error) {
	var items []sdk.Item
	for it, err := range s.List(ctx, mailbox, opts) {
		if err != nil {
			return items, err
		}
		items = append(items, it)
	}
	return items, nil
}

// FinishBatch ends a batch of DeferSync Puts as a fetcher does: a barrier
// (Sync), the items uids tagged unread, and a barrier again; tb fails if a
// step fails or s is not an sdk.Syncer. For a store's benchmarks of a sync.
func FinishBatch(tb testing.TB, s sdk.Store, mailbox string, uids []string) {
	tb.Helper()
	sy, ok := s.(sdk.Syncer)
	if !ok {
		tb.Fatalf("the store (%T) is not an sdk.Syncer", s)
	}
	ctx := tb.Context()
	if err := sy.Sync(ctx, mailbox); err != nil {
		tb.Fatalf("Sync(%q): %v", mailbox, err)
	}
	if _, err := s.SetTag(ctx, mailbox, uids, sdk.TagUnread); err != nil {
		tb.Fatalf("SetTag(%q, %d items, unread): %v", mailbox, len(uids), err)
	}
	if err := sy.Sync(ctx, mailbox); err != nil {
		tb.Fatalf("Sync(%q) after SetTag: %v", mailbox, err)
	}
}

// Fetch returns the whole of message uid of mailbox; tb fails if Fetch,
// the read or Close fails. It is the helper the suite uses, exported for a
// store's own tests.
func Fetch(tb testing.TB, s sdk.Store, mailbox, uid string) []byte {
	tb.Helper()
	rc, err := s.Fetch(tb.Context(), mailbox, uid)
	if err != nil {
		tb.Fatalf("Fetch(%q, %q): %v", mailbox, uid, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		tb.Fatalf("Fetch(%q, %q): reading: %v", mailbox, uid, err)
	}
	if err := rc.Close(); err != nil {
		tb.Fatalf("Fetch(%q, %q): Close: %v", mailbox, uid, err)
	}
	return b
}

func findItem(items []sdk.Item, uid string) (sdk.Item, bool) {
	for _, it := range items {
		if it.UID == uid {
			return it, true
		}
	}
	return sdk.Item{}, false
}

func mustFind(t *testing.T, s sdk.Store, mailbox, uid string) sdk.Item {
	t.Helper()
	it, ok := findItem(list(t, s, mailbox, sdk.ListOptions{}), uid)
	if !ok {
		t.Fatalf("List(%q) does not contain UID %q", mailbox, uid)
	}
	return it
}

func uids(items []sdk.Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.UID
	}
	return out
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// sameSet reports whether a and b hold the same strings, in any order.
func sameSet(a, b []string) bool {
	return slices.Equal(sortedCopy(a), sortedCopy(b))
}

// wantErr fails t unless errors.Is(err, target).
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: got no error, want %v", what, target)
	} else if !errors.Is(err, target) {
		t.Errorf("%s: got error %q, want one wrapping %v", what, err, target)
	}
}

// checkItem checks an item against the octets it should hold.
func checkItem(t *testing.T, it sdk.Item, body []byte) {
	t.Helper()
	if it.Size != int64(len(body)) {
		t.Errorf("item %q: Size %d, want %d", it.UID, it.Size, len(body))
	}
	ws, _ := sdk.WireSizeOf(bytes.NewReader(body))
	checkWireSize(t, it, ws)
}

func checkWireSize(t *testing.T, it sdk.Item, want int64) {
	t.Helper()
	switch {
	case it.WireSize == want:
	case it.WireSize == 0 && it.Size != 0:
		// 0 means unknown for a non-empty message.
	default:
		t.Errorf("item %q: WireSize %d, want %d (or 0 for unknown)", it.UID, it.WireSize, want)
	}
}

// snapshot is what List and Stat show of a mailbox, for "nothing changed"
// checks.
type snapshot struct {
	items []sdk.Item
	stat  map[sdk.Tag]sdk.TagStat
}

func takeSnapshot(t *testing.T, s sdk.Store, mailbox string) snapshot {
	t.Helper()
	st, err := s.Stat(t.Context(), mailbox)
	if err != nil {
		t.Fatalf("Stat(%q): %v", mailbox, err)
	}
	return snapshot{items: list(t, s, mailbox, sdk.ListOptions{}), stat: st}
}

func (a snapshot) check(t *testing.T, b snapshot, what string) {
	t.Helper()
	if !sameSet(uids(a.items), uids(b.items)) {
		t.Errorf("%s changed the mailbox: UIDs before %v, after %v", what, uids(a.items), uids(b.items))
		return
	}
	for _, it := range a.items {
		if jt, _ := findItem(b.items, it.UID); jt.Tag != it.Tag || jt.Size != it.Size {
			t.Errorf("%s changed item %q: before %+v, after %+v", what, it.UID, it, jt)
		}
	}
	for _, tag := range sdk.Tags {
		if a.stat[tag] != b.stat[tag] {
			t.Errorf("%s changed Stat[%s]: before %+v, after %+v", what, tag, a.stat[tag], b.stat[tag])
		}
	}
}

// readWithin reads rc to the end in a goroutine and fails t if that takes
// longer than settleTimeout (a Fetch stream must not hang). It returns the
// number of octets read and the read error (nil at io.EOF).
func readWithin(t *testing.T, rc io.Reader) (int64, error) {
	t.Helper()
	type result struct {
		n   int64
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := io.Copy(io.Discard, rc)
		done <- result{n, err}
	}()
	select {
	case r := <-done:
		return r.n, r.err
	case <-time.After(settleTimeout):
		t.Fatalf("reading a Fetch stream hung for %v", settleTimeout)
		return 0, nil
	}
}

// RunGRPC runs the suite with every store served over real gRPC inside the
// test process (pluginhost.ServeInProcess): the store is seen through a
// pluginhost.Remote narrowed to the capabilities it advertises
// (pluginhost.Narrow), as izypop3 sees a plugin, with chunked streams,
// status codes and the sentinel mapping in between. newStore's store is closed (if it
// implements sdk.Closer) after the server stops.
func RunGRPC(t *testing.T, newStore func(t *testing.T) sdk.Store) {
	t.Helper()
	Run(t, func(t *testing.T) sdk.Store {
		s := newStore(t)
		if s == nil {
			t.Fatal("newStore returned nil")
		}
		r, stop, err := pluginhost.ServeInProcess(s, pluginhost.Info{Name: "storetest", Version: "test"})
		if err != nil {
			t.Fatalf("pluginhost.ServeInProcess: %v", err)
		}
		t.Cleanup(func() {
			if err := stop(); err != nil {
				t.Errorf("stopping the in-process server: %v", err)
			}
			if c, ok := s.(sdk.Closer); ok {
				if err := c.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}
		})
		info, err := r.Info(t.Context())
		if err != nil {
			t.Fatalf("Info: %v", err)
		}
		return pluginhost.Narrow(r, info.Capabilities)
	})
}
