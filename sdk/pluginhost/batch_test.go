package pluginhost

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/izyware/izypop3/sdk/internal/storev1"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/internal/transport"
)

// put stores data in mailbox m and returns its UID.
func put(t *testing.T, r *Remote, data []byte) string {
	t.Helper()
	res, err := r.Put(context.Background(), "m", sdk.PutOptions{}, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return res.UID
}

// failAfter is a store reader that fails with err after n octets.
type failAfter struct {
	r   io.Reader
	n   int
	err error
}

func (f *failAfter) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, f.err
	}
	p = p[:min(len(p), f.n)]
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

func (f *failAfter) Close() error { return nil }

// breakingStore's Fetch of uid "broken" gives a reader that fails with
// sdk.ErrConflict after 1000 octets of the item "src".
type breakingStore struct {
	*memStore
	src string
}

func (s *breakingStore) Fetch(ctx context.Context, mailbox, uid string) (io.ReadCloser, error) {
	if uid == "broken" {
		rc, err := s.memStore.Fetch(ctx, mailbox, s.src)
		if err != nil {
			return nil, err
		}
		return &failAfter{r: rc, n: 1000, err: fmt.Errorf("disk hiccup: %w", sdk.ErrConflict)}, nil
	}
	return s.memStore.Fetch(ctx, mailbox, uid)
}

func TestFetchBatch(t *testing.T) {
	ms := newMemStore()
	bs := &breakingStore{memStore: ms}
	r := serve(t, bs)
	sizes := []int{20 << 10, 0, 5 << 20, ChunkSize, ChunkSize + 1, 1}
	var uids []string
	data := map[string][]byte{}
	for i, n := range sizes {
		d := pattern(n + i)[i:] // different contents
		uid := put(t, r, d)
		uids = append(uids, uid)
		data[uid] = d
	}
	bs.src = uids[2]
	// A missing item and a failing one in the middle: the batch goes on.
	req := append([]string{}, uids[:2]...)
	req = append(req, "nosuch", "broken")
	req = append(req, uids[2:]...)

	for _, small := range []bool{false, true} {
		t.Run(fmt.Sprintf("smallreads=%v", small), func(t *testing.T) {
			br, err := r.FetchBatch(context.Background(), "m", req)
			if err != nil {
				t.Fatal(err)
			}
			defer br.Close()
			for _, want := range req {
				uid, rd, err := br.Next()
				if uid != want {
					t.Fatalf("Next uid %q, want %q", uid, want)
				}
				switch want {
				case "nosuch":
					if !errors.Is(err, sdk.ErrNotFound) || rd != nil {
						t.Fatalf("missing item: reader %v, err %v", rd, err)
					}
					continue
				case "broken":
					if err != nil {
						t.Fatal(err)
					}
					n, err := io.Copy(io.Discard, rd)
					if n != 1000 || !errors.Is(err, sdk.ErrConflict) || !strings.Contains(err.Error(), "disk hiccup") {
						t.Fatalf("failing item: %d octets, err %v", n, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("item %s: %v", want, err)
				}
				h := sha256.New()
				var n int64
				if small {
					n, err = io.CopyBuffer(h, struct{ io.Reader }{rd}, make([]byte, 999))
				} else {
					n, err = io.Copy(h, rd)
				}
				if err != nil || n != int64(len(data[want])) || !bytes.Equal(h.Sum(nil), sha(data[want])) {
					t.Fatalf("item %s: %d octets (want %d), err %v", want, n, len(data[want]), err)
				}
				if n, err := rd.Read(make([]byte, 10)); n != 0 || err != io.EOF {
					t.Fatalf("read after the end: %d, %v", n, err)
				}
			}
			for range 2 {
				if uid, rd, err := br.Next(); err != io.EOF || uid != "" || rd != nil {
					t.Fatalf("after the last item: %q %v %v", uid, rd, err)
				}
			}
		})
	}
	t.Run("empty", func(t *testing.T) {
		br, err := r.FetchBatch(context.Background(), "m", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := br.Next(); err != io.EOF {
			t.Fatalf("Next of an empty batch: %v", err)
		}
		br.Close()
	})
}

func sha(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

func TestFetchBatchSkip(t *testing.T) {
	ms := newMemStore()
	r := serve(t, ms)
	big, small := pattern(5<<20), []byte("Subject: s\r\n\r\nhi\r\n")
	ub, us := put(t, r, big), put(t, r, small)
	br, err := r.FetchBatch(context.Background(), "m", []string{ub, ub, us, ub})
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	// sdk.Item 1: read 10 octets only; item 2: not at all; item 3 whole.
	_, rd, err := br.Next()
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 10)
	if _, err := io.ReadFull(rd, p); err != nil || !bytes.Equal(p, big[:10]) {
		t.Fatal("first 10 octets", err)
	}
	if _, _, err := br.Next(); err != nil {
		t.Fatal(err)
	}
	uid, rd3, err := br.Next()
	if err != nil || uid != us {
		t.Fatalf("third item %q, %v", uid, err)
	}
	if _, err := rd.Read(p); !errors.Is(err, errBatchClosed) {
		t.Errorf("read of a skipped item: %v", err)
	}
	got, err := io.ReadAll(rd3)
	if err != nil || !bytes.Equal(got, small) {
		t.Fatalf("third item %q, %v", got, err)
	}
	// The fourth, read whole after the skips.
	_, rd, err = br.Next()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(rd); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("fourth item: %d octets, %v", len(got), err)
	}
	if _, _, err := br.Next(); err != io.EOF {
		t.Fatal(err)
	}
}

func TestFetchBatchCancel(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ms := newMemStore()
	r, stop, err := ServeInProcess(ms, Info{})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	uid := put(t, r, pattern(5<<20))
	uids := []string{uid, uid, uid, uid}
	before := runtime.NumGoroutine()

	// Close mid-item: the plugin closes the store's reader and stops.
	br, err := r.FetchBatch(context.Background(), "m", uids)
	if err != nil {
		t.Fatal(err)
	}
	_, rd, err := br.Next()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(rd, make([]byte, ChunkSize+10)); err != nil {
		t.Fatal(err)
	}
	br.Close()
	select {
	case <-ms.fetchClosed:
	case <-time.After(5 * time.Second):
		t.Fatal("store reader not closed after Close")
	}
	if _, err := rd.Read(make([]byte, 10)); err == nil {
		t.Error("Read after Close succeeded")
	}
	if _, _, err := br.Next(); err == nil {
		t.Error("Next after Close succeeded")
	}

	// Canceling the caller's context: Read fails with Canceled.
	ctx, cancel := context.WithCancel(context.Background())
	br, err = r.FetchBatch(ctx, "m", uids)
	if err != nil {
		t.Fatal(err)
	}
	if _, rd, err = br.Next(); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := io.Copy(io.Discard, rd); !errors.Is(err, context.Canceled) {
		t.Errorf("read after cancel: %v", err)
	}
	if _, _, err := br.Next(); !errors.Is(err, context.Canceled) {
		t.Errorf("Next after cancel: %v", err)
	}
	br.Close()
	<-ms.fetchClosed
	waitGoroutines(t, before)
}

func TestFetchBatchServerGone(t *testing.T) {
	ms := newMemStore()
	r, stop, err := ServeInProcess(ms, Info{})
	if err != nil {
		t.Fatal(err)
	}
	uid := put(t, r, pattern(5<<20))
	br, err := r.FetchBatch(context.Background(), "m", []string{uid, uid})
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	_, rd, err := br.Next()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(rd, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	go stop()
	if _, err := io.Copy(io.Discard, rd); !errors.Is(err, sdk.ErrUnavailable) {
		t.Errorf("read with the connection gone: %v", err)
	}
	if _, _, err := br.Next(); !errors.Is(err, sdk.ErrUnavailable) {
		t.Errorf("Next with the connection gone: %v", err)
	}
}

// oldServer is a plugin built before FetchBatch and PutBatch existed.
type oldServer struct {
	storev1.StoreServer
}

func (oldServer) FetchBatch(req *storev1.FetchBatchRequest, stream grpc.ServerStreamingServer[storev1.FetchBatchResponse]) error {
	return storev1.UnimplementedStoreServer{}.FetchBatch(req, stream)
}

func (oldServer) PutBatch(stream grpc.BidiStreamingServer[storev1.PutRequest, storev1.PutBatchResponse]) error {
	return storev1.UnimplementedStoreServer{}.PutBatch(stream)
}

func TestFetchBatchUnimplemented(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(transport.ServerOptions()...)
	storev1.RegisterStoreServer(gs, oldServer{transport.NewStoreServer(newMemStore(), transport.Info{})})
	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	dial := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, DialOptions()...)
	conn, err := grpc.NewClient("passthrough:///"+lis.Addr().String(), dial...)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := stopInProcess(conn, gs, served); err != nil {
			t.Error(err)
		}
	}()
	br, err := NewRemote(conn).FetchBatch(context.Background(), "m", []string{"a"})
	if !errors.Is(err, sdk.ErrUnsupported) || br != nil {
		t.Fatalf("FetchBatch on an old plugin: %v, %v", br, err)
	}
	// PutBatch: the first Put tells, and so does every later one; Put
	// itself still works.
	bw, err := NewRemote(conn).PutBatch(context.Background(), "m")
	if err != nil {
		t.Fatal(err)
	}
	defer bw.Close()
	for range 2 {
		if res, err := bw.Put(sdk.PutOptions{}, strings.NewReader("x\r\n")); !errors.Is(err, sdk.ErrUnsupported) {
			t.Fatalf("batch Put on an old plugin: %+v, %v; want ErrUnsupported", res, err)
		}
	}
	if _, err := NewRemote(conn).Put(context.Background(), "m", sdk.PutOptions{}, strings.NewReader("x\r\n")); err != nil {
		t.Fatalf("Put on an old plugin: %v", err)
	}
}
