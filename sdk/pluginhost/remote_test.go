package pluginhost

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/izyware/izypop3/sdk/internal/storev1"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/internal/transport"
)

// serve runs s over real gRPC for the duration of the test.
func serve(t *testing.T, s sdk.Store) *Remote {
	t.Helper()
	r, stop, err := ServeInProcess(s, Info{Name: "mem", Version: "t"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return r
}

var allSentinels = []error{
	sdk.ErrNotFound, sdk.ErrAuthFailed, sdk.ErrInUse, sdk.ErrUnavailable, sdk.ErrInvalid,
	sdk.ErrUnsupported, sdk.ErrConflict, context.Canceled, context.DeadlineExceeded,
}

func TestErrorIdentityRoundTrip(t *testing.T) {
	ms := newMemStore()
	r := serve(t, ms)
	ctx := context.Background()
	for _, sentinel := range allSentinels {
		t.Run(sentinel.Error(), func(t *testing.T) {
			ms.failWith = fmt.Errorf("mailbox x: %w", sentinel)
			defer func() { ms.failWith = nil }()
			_, err := r.Stat(ctx, "x")
			if !errors.Is(err, sentinel) {
				t.Fatalf("Stat error %v (%T) does not match %v", err, err, sentinel)
			}
			for _, other := range allSentinels {
				if other != sentinel && errors.Is(err, other) {
					t.Errorf("error %v also matches %v", err, other)
				}
			}
			if !strings.Contains(err.Error(), "mailbox x") {
				t.Errorf("store's text lost: %q", err)
			}
			// The same through a stream (List) and a reader-returning call.
			for _, lerr := range r.List(ctx, "x", sdk.ListOptions{}) {
				if !errors.Is(lerr, sentinel) {
					t.Errorf("List error %v does not match %v", lerr, sentinel)
				}
			}
			if _, err := r.Fetch(ctx, "x", "u"); !errors.Is(err, sentinel) {
				t.Errorf("Fetch error %v does not match %v", err, sentinel)
			}
			if _, err := r.Put(ctx, "x", sdk.PutOptions{}, strings.NewReader("hi")); !errors.Is(err, sentinel) {
				t.Errorf("Put error %v does not match %v", err, sentinel)
			}
		})
	}
	t.Run("plain", func(t *testing.T) {
		ms.failWith = errors.New("disk on fire")
		defer func() { ms.failWith = nil }()
		_, err := r.Stat(ctx, "x")
		if err == nil || !strings.Contains(err.Error(), "disk on fire") {
			t.Fatalf("got %v", err)
		}
		for _, s := range allSentinels {
			if errors.Is(err, s) {
				t.Errorf("plain error matches %v", s)
			}
		}
	})
}

func TestRoundTripAllMethods(t *testing.T) {
	ms := newMemStore()
	full := &memFull{memStore: ms}
	r := serve(t, full)
	ctx := context.Background()

	info, err := r.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantCaps := []string{CapConfigurer, CapAuthenticator, CapTopFetcher, CapLocker, CapChecker, CapBatchFetcher, CapBatchPutter}
	if info.Name != "mem" || info.SDKVersion != sdk.Version || !slices.Equal(info.Capabilities, wantCaps) {
		t.Errorf("info = %+v", info)
	}
	if err := r.Configure(ctx, map[string]string{"path": "/x"}); err != nil || full.config["path"] != "/x" {
		t.Errorf("Configure: %v, config %v", err, full.config)
	}
	if err := r.Configure(ctx, map[string]string{"bogus": "1"}); !errors.Is(err, sdk.ErrInvalid) || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("Configure bogus: %v", err)
	}
	if mb, err := r.Authenticate(ctx, "u", "p"); err != nil || mb != "INBOX" {
		t.Errorf("Authenticate: %q %v", mb, err)
	}
	if _, err := r.Authenticate(ctx, "u", "x"); !errors.Is(err, sdk.ErrAuthFailed) {
		t.Errorf("Authenticate bad: %v", err)
	}
	tok, err := r.Lock(ctx, "INBOX")
	if err != nil || r.Unlock(ctx, "INBOX", tok) != nil {
		t.Errorf("Lock/Unlock: %q %v", tok, err)
	}
	if err := r.Unlock(ctx, "INBOX", "nope"); !errors.Is(err, sdk.ErrConflict) {
		t.Errorf("Unlock bad token: %v", err)
	}
	if err := r.Check(ctx); err != nil {
		t.Errorf("Check: %v", err)
	}

	rx := time.Unix(1700000000, 123)
	const msg = "Subject: x\r\n\r\nbody\r\n"
	const size = int64(len(msg))
	res, err := r.Put(ctx, "INBOX", sdk.PutOptions{Tag: sdk.TagStaged, SourceID: "pop3://a@b:110/1", Received: rx}, strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(msg))
	if res.Size != size || res.SHA256 != hex.EncodeToString(sum[:]) || res.Tag != sdk.TagStaged {
		t.Errorf("Put result %+v", res)
	}
	var got []sdk.Item
	for it, err := range r.List(ctx, "INBOX", sdk.ListOptions{Tags: []sdk.Tag{sdk.TagStaged}}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, it)
	}
	if len(got) != 1 || got[0].UID != res.UID || got[0].SourceID != "pop3://a@b:110/1" || !got[0].Received.Equal(rx) || got[0].Size != size {
		t.Errorf("List = %+v", got)
	}
	nf, err := r.SetTag(ctx, "INBOX", []string{res.UID, "nope"}, sdk.TagUnread)
	if err != nil || len(nf) != 1 || nf[0] != "nope" {
		t.Errorf("SetTag: %v %v", nf, err)
	}
	st, err := r.Stat(ctx, "INBOX")
	if err != nil || st[sdk.TagUnread] != (sdk.TagStat{Count: 1, Size: size}) {
		t.Errorf("Stat: %v %v", st, err)
	}
	rc, err := r.FetchTop(ctx, "INBOX", res.UID, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != msg {
		t.Errorf("FetchTop = %q", b)
	}
	if _, err := r.Fetch(ctx, "INBOX", "nope"); !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("Fetch missing: %v", err)
	}
	nf, err = r.Delete(ctx, "INBOX", []string{res.UID})
	if err != nil || len(nf) != 0 || ms.count("INBOX") != 0 {
		t.Errorf("Delete: %v %v", nf, err)
	}

	// Empty message.
	res, err = r.Put(ctx, "INBOX", sdk.PutOptions{}, strings.NewReader(""))
	if err != nil || res.Size != 0 {
		t.Fatalf("empty Put: %+v %v", res, err)
	}
	rc, err = r.Fetch(ctx, "INBOX", res.UID)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(rc); err != nil || len(b) != 0 {
		t.Errorf("empty Fetch: %q %v", b, err)
	}
	rc.Close()
}

func TestOptionalInterfacesAbsent(t *testing.T) {
	r := serve(t, newMemStore())
	ctx := context.Background()
	checks := map[string]error{
		"Configure": r.Configure(ctx, map[string]string{"a": "b"}),
		"Check":     r.Check(ctx),
		"Unlock":    r.Unlock(ctx, "m", "t"),
	}
	_, checks["Authenticate"] = r.Authenticate(ctx, "u", "p")
	_, checks["Lock"] = r.Lock(ctx, "m")
	_, checks["FetchTop"] = r.FetchTop(ctx, "m", "u", 1)
	for name, err := range checks {
		if !errors.Is(err, sdk.ErrUnsupported) {
			t.Errorf("%s: %v, want ErrUnsupported", name, err)
		}
	}
	info, err := r.Info(ctx)
	if err != nil || !slices.Equal(info.Capabilities, []string{CapBatchFetcher, CapBatchPutter}) {
		t.Errorf("Info = %+v, %v; want only %s and %s", info, err, CapBatchFetcher, CapBatchPutter)
	}
}

func TestListBatches(t *testing.T) {
	ms := newMemStore()
	r := serve(t, ms)
	ctx := context.Background()
	const n = 3*transport.ListBatchItems + 17
	for i := range n {
		if _, err := r.Put(ctx, "m", sdk.PutOptions{SourceID: fmt.Sprint(i)}, strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
	}
	var uids []string
	for it, err := range r.List(ctx, "m", sdk.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		uids = append(uids, it.UID)
	}
	if len(uids) != n || uids[0] != "m000001" || uids[n-1] != fmt.Sprintf("m%06d", n) {
		t.Fatalf("listed %d items (%v … %v)", len(uids), uids[:1], uids[len(uids)-1:])
	}
	// Limit and an early break.
	k := 0
	for _, err := range r.List(ctx, "m", sdk.ListOptions{Limit: 700}) {
		if err != nil {
			t.Fatal(err)
		}
		k++
	}
	if k != 700 {
		t.Errorf("Limit 700 gave %d", k)
	}
	k = 0
	for range r.List(ctx, "m", sdk.ListOptions{}) {
		k++
		if k == 3 {
			break
		}
	}
}

// pattern returns n deterministic pseudo-random octets (binary, with CR, LF
// and NUL among them).
func pattern(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

func TestLargeMessages(t *testing.T) {
	ms := newMemStore()
	r := serve(t, ms)
	ctx := context.Background()
	for _, size := range []int{5 << 20, 50 << 20} {
		t.Run(fmt.Sprintf("%dMiB", size>>20), func(t *testing.T) {
			data := pattern(size)
			want := sha256.Sum256(data)
			res, err := r.Put(ctx, "big", sdk.PutOptions{}, bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if res.Size != int64(size) || res.SHA256 != hex.EncodeToString(want[:]) {
				t.Fatalf("Put result %+v", res)
			}
			rc, err := r.Fetch(ctx, "big", res.UID)
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			n, err := io.Copy(h, rc)
			rc.Close()
			if err != nil || n != int64(size) || !bytes.Equal(h.Sum(nil), want[:]) {
				t.Fatalf("Fetch: %d octets, err %v, sha match %v", n, err, bytes.Equal(h.Sum(nil), want[:]))
			}
			// Small reads too (Read path rather than WriteTo).
			rc, _ = r.Fetch(ctx, "big", res.UID)
			h.Reset()
			n, err = io.CopyBuffer(h, struct{ io.Reader }{rc}, make([]byte, 1000))
			rc.Close()
			if err != nil || n != int64(size) || !bytes.Equal(h.Sum(nil), want[:]) {
				t.Fatalf("Fetch (small reads): %d octets, err %v", n, err)
			}
		})
	}
}

// rawPut opens a Put stream on the gRPC server directly, to send what a
// well-behaved Remote never would.
func rawPut(t *testing.T, ms *memStore, msgs []*storev1.PutRequest) error {
	t.Helper()
	r := serve(t, ms)
	stream, err := r.c.Put(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if err := stream.Send(m); err != nil {
			break
		}
	}
	_, err = stream.CloseAndRecv()
	return err
}

func TestPutTrailerChecked(t *testing.T) {
	body := []byte("Subject: hi\r\n\r\nhello\r\n")
	sum := sha256.Sum256(body)
	hdr := &storev1.PutRequest{Part: &storev1.PutRequest_Header{Header: &storev1.PutHeader{Mailbox: "m"}}}
	data := &storev1.PutRequest{Part: &storev1.PutRequest_Data{Data: body}}
	trailer := func(size int64, sha string) *storev1.PutRequest {
		return &storev1.PutRequest{Part: &storev1.PutRequest_Trailer{Trailer: &storev1.PutTrailer{Size: size, Sha256: sha}}}
	}
	good := hex.EncodeToString(sum[:])
	cases := []struct {
		name string
		msgs []*storev1.PutRequest
		ok   bool
	}{
		{"good", []*storev1.PutRequest{hdr, data, trailer(int64(len(body)), good)}, true},
		{"size mismatch", []*storev1.PutRequest{hdr, data, trailer(int64(len(body))+1, good)}, false},
		{"sha mismatch", []*storev1.PutRequest{hdr, data, trailer(int64(len(body)), strings.Repeat("0", 64))}, false},
		{"no trailer", []*storev1.PutRequest{hdr, data}, false},
		{"no header", []*storev1.PutRequest{data, trailer(int64(len(body)), good)}, false},
		{"two headers", []*storev1.PutRequest{hdr, data, hdr, trailer(int64(len(body)), good)}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ms := newMemStore()
			err := rawPut(t, ms, c.msgs)
			if c.ok {
				if err != nil || ms.count("m") != 1 {
					t.Fatalf("err %v, %d stored", err, ms.count("m"))
				}
				return
			}
			if status.Code(err) != codes.InvalidArgument {
				t.Errorf("client got %v, want InvalidArgument", err)
			}
			if ms.count("m") != 0 {
				t.Errorf("store kept %d items", ms.count("m"))
			}
			if c.name != "no header" {
				if len(ms.putErrs) != 1 || !errors.Is(ms.putErrs[0], sdk.ErrInvalid) {
					t.Errorf("store saw read errors %v, want one ErrInvalid", ms.putErrs)
				}
			}
		})
	}
}

// failingReader yields n zero octets, then waits for gate (if any) and
// fails.
type failingReader struct {
	n    int
	gate <-chan struct{}
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		if f.gate != nil {
			select {
			case <-f.gate:
			case <-time.After(5 * time.Second):
			}
		}
		return 0, errors.New("source broke")
	}
	k := min(len(p), f.n)
	clear(p[:k])
	f.n -= k
	return k, nil
}

// enteredStore signals when its Put has been called.
type enteredStore struct {
	*memStore
	entered chan struct{}
	once    sync.Once
}

func (e *enteredStore) Put(ctx context.Context, mailbox string, opts sdk.PutOptions, body io.Reader) (sdk.PutResult, error) {
	e.once.Do(func() { close(e.entered) })
	return e.memStore.Put(ctx, mailbox, opts, body)
}

func TestPutBodyErrorStoresNothing(t *testing.T) {
	ms := newMemStore()
	es := &enteredStore{memStore: ms, entered: make(chan struct{})}
	r := serve(t, es)
	// The body fails once the store is reading it: the store's read fails.
	_, err := r.Put(context.Background(), "m", sdk.PutOptions{}, &failingReader{n: 3 * ChunkSize / 2, gate: es.entered})
	if err == nil || !strings.Contains(err.Error(), "source broke") {
		t.Fatalf("Put = %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ms.mu.Lock()
		n := len(ms.putErrs)
		ms.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("store saw %d read errors", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if ms.count("m") != 0 {
		t.Errorf("stored %d items", ms.count("m"))
	}
	// A body that fails at once may end the call before the store is even
	// called; either way nothing is stored.
	for range 5 {
		if _, err := r.Put(context.Background(), "m", sdk.PutOptions{}, &failingReader{n: 10}); err == nil {
			t.Fatal("Put of a failing body succeeded")
		}
	}
	time.Sleep(50 * time.Millisecond)
	if ms.count("m") != 0 {
		t.Errorf("stored %d items", ms.count("m"))
	}
}

func TestFetchCancelReleasesStream(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ms := newMemStore()
	r, stop, err := ServeInProcess(ms, Info{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	res, err := r.Put(ctx, "m", sdk.PutOptions{}, bytes.NewReader(pattern(20<<20)))
	if err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	for range 5 {
		rc, err := r.Fetch(ctx, "m", res.UID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(rc, make([]byte, ChunkSize+10)); err != nil {
			t.Fatal(err)
		}
		rc.Close()
		// The plugin side sees the cancel and closes the store's reader.
		select {
		case <-ms.fetchClosed:
		case <-time.After(5 * time.Second):
			t.Fatal("store reader not closed after the client closed the stream")
		}
		if _, err := rc.Read(make([]byte, 10)); err == nil {
			t.Error("Read after Close succeeded")
		}
	}
	// Canceling the caller's context mid-stream ends the read with Canceled.
	cctx, cancel := context.WithCancel(ctx)
	rc, err := r.Fetch(cctx, "m", res.UID)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := io.Copy(io.Discard, rc); !errors.Is(err, context.Canceled) {
		t.Errorf("read after cancel: %v", err)
	}
	rc.Close()
	<-ms.fetchClosed
	waitGoroutines(t, before)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// waitGoroutines waits until the goroutine count is back to at most n.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines, want ≤ %d", runtime.NumGoroutine(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestServeInProcessStopIdempotent(t *testing.T) {
	r, stop, err := ServeInProcess(newMemStore(), Info{})
	if err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Stat(context.Background(), "m"); !errors.Is(err, sdk.ErrUnavailable) {
		t.Errorf("call after stop: %v, want ErrUnavailable", err)
	}
}

// describedStore describes its configuration keys.
type describedStore struct{ *memStore }

func (describedStore) Configure(context.Context, map[string]string) error { return nil }
func (describedStore) ConfigKeys() []sdk.ConfigKey {
	return []sdk.ConfigKey{{Name: "path", Help: "the root"}, {Name: "mailbox.NAME.count", Help: "per mailbox"}}
}

// The keys a store describes reach the host's Info; a store that describes
// none sends none.
func TestInfoConfigKeys(t *testing.T) {
	info, err := serve(t, describedStore{newMemStore()}).Info(context.Background())
	want := []sdk.ConfigKey{{Name: "path", Help: "the root"}, {Name: "mailbox.NAME.count", Help: "per mailbox"}}
	if err != nil || !slices.Equal(info.ConfigKeys, want) {
		t.Errorf("Info = %+v, %v; want config keys %v", info, err, want)
	}
	info, err = serve(t, newMemStore()).Info(context.Background())
	if err != nil || info.ConfigKeys != nil {
		t.Errorf("Info = %+v, %v; want no config keys", info, err)
	}
}
