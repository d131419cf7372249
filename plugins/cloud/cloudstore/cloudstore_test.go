package cloudstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/izyware/izypop3/internal/s3test"
	"github.com/izyware/izypop3/internal/testkit"
	"github.com/izyware/izypop3/plugins/cloud/cloudstore"
	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/storetest"
)

func plant(t *testing.T, srv *s3test.Server, key string, body []byte) {
	t.Helper()
	_, err := srv.Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
	if err != nil {
		t.Fatalf("plant %s: %v", key, err)
	}
}

func exists(t *testing.T, srv *s3test.Server, key string) bool {
	t.Helper()
	_, err := srv.Client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String(key)})
	return err == nil
}

// An SES receipt rule's output is served as it is: any key directly under
// PREFIX/M/ is an unread message, the setup notification is not, UIDs are
// valid for any key and the same from another store instance.
func TestSESLayout(t *testing.T) {
	srv := s3test.StartFake(t)
	s := newStore(t, srv, nil)
	base := t.Name() + "/inbox/"
	bodies := map[string][]byte{
		"0000014a1b2c3d4e-5f6a7b8c-aaaa-bbbb-cccc-ddddeeeeffff-000000": []byte("From: a@example.org\nSubject: ses\n\nbare LF body\n"),
		"with space and ünïcode.eml":                                   []byte("Subject: x\r\n\r\nCRLF body, no final newline"),
		strings.Repeat("long", 30):                                     []byte("Subject: long key\r\n\r\n.dot line\r\n"),
		"~tilde":                                                       []byte("Subject: tilde\r\n\r\n"),
	}
	for k, b := range bodies {
		plant(t, srv, base+k, b)
	}
	plant(t, srv, base+"AMAZON_SES_SETUP_NOTIFICATION", []byte("setup"))
	plant(t, srv, base+"sub/folder/ignored", []byte("not directly there"))
	items := storetest.List(t, s, "inbox", sdk.TagUnread)
	if len(items) != len(bodies) {
		t.Fatalf("listed %d items, want %d: %+v", len(items), len(bodies), items)
	}
	other := newStore(t, srv, nil)
	again := storetest.List(t, other, "inbox")
	for i, it := range items {
		if !sdk.ValidUID(it.UID) {
			t.Errorf("invalid UID %q", it.UID)
		}
		if again[i].UID != it.UID {
			t.Errorf("another store instance lists UID %q, want %q", again[i].UID, it.UID)
		}
		got := storetest.Fetch(t, s, "inbox", it.UID)
		ws, _ := sdk.WireSizeOf(bytes.NewReader(got))
		if it.Size != int64(len(got)) || it.WireSize != ws {
			t.Errorf("item %q: Size %d WireSize %d, fetched %d octets, wire %d", it.UID, it.Size, it.WireSize, len(got), ws)
		}
		found := false
		for _, b := range bodies {
			found = found || bytes.Equal(b, got)
		}
		if !found {
			t.Errorf("item %q: fetched octets %q are none of the planted ones", it.UID, got)
		}
	}
	// Archiving an SES object keeps its name (and so its UID).
	uid := items[0].UID
	if nf, err := s.SetTag(t.Context(), "inbox", []string{uid}, sdk.TagArchive); err != nil || len(nf) != 0 {
		t.Fatalf("SetTag: %v %v", nf, err)
	}
	arch := storetest.List(t, other, "inbox", sdk.TagArchive)
	if len(arch) != 1 || arch[0].UID != uid {
		t.Fatalf("archive after SetTag = %+v, want UID %q", arch, uid)
	}
	if n := len(storetest.List(t, other, "inbox", sdk.TagUnread)); n != len(bodies)-1 {
		t.Errorf("%d unread after archiving one, want %d", n, len(bodies)-1)
	}
}

// Listing pages through more than 1000 objects (S3's page size).
func TestListPaging(t *testing.T) {
	srv := s3test.StartFake(t)
	s := newStore(t, srv, nil)
	const n = 1203
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			plant(t, srv, fmt.Sprintf("%s/big/msg-%05d", t.Name(), i), fmt.Appendf(nil, "Subject: %d\r\n\r\nbody\r\n", i))
		}()
	}
	wg.Wait()
	items := storetest.List(t, s, "big", sdk.TagUnread)
	if len(items) != n {
		t.Fatalf("listed %d, want %d", len(items), n)
	}
	seen := map[string]bool{}
	for _, it := range items {
		if seen[it.UID] {
			t.Fatalf("UID %q twice", it.UID)
		}
		seen[it.UID] = true
	}
}

// An object under two tags without a journal counts under the tag that
// comes first in archive, dup, conversionerror, pop3failed, staged, unread.
func TestTwoTagsRule(t *testing.T) {
	srv := s3test.StartFake(t)
	s := newStore(t, srv, nil)
	base := t.Name() + "/m/"
	body := []byte("Subject: twice\r\n\r\n")
	cases := []struct {
		tags []string // "" = unread
		want sdk.Tag
	}{
		{[]string{"", "archive"}, sdk.TagArchive},
		{[]string{"staged", ""}, sdk.TagStaged},
		{[]string{"staged", "dup"}, sdk.TagDup},
		{[]string{"pop3failed", "archive", ""}, sdk.TagArchive},
		{[]string{"conversionerror", "pop3failed"}, sdk.TagConversionError},
	}
	for i, tc := range cases {
		name := fmt.Sprintf("twice-%d", i)
		for _, tag := range tc.tags {
			if tag == "" {
				plant(t, srv, base+name, body)
			} else {
				plant(t, srv, base+".izypop3/"+tag+"/"+name, body)
			}
		}
		var got []sdk.Item
		for _, it := range storetest.List(t, s, "m") {
			if it.UID == name {
				got = append(got, it)
			}
		}
		if len(got) != 1 || got[0].Tag != tc.want {
			t.Errorf("%v: listed %+v, want one item tagged %s", tc.tags, got, tc.want)
		}
		// A tag change leaves one copy.
		if _, err := s.SetTag(t.Context(), "m", []string{name}, sdk.TagUnread); err != nil {
			t.Fatal(err)
		}
		copies := 0
		for _, tag := range sdk.Tags {
			k := base + ".izypop3/" + string(tag) + "/" + name
			if tag == sdk.TagUnread {
				k = base + name
			}
			if exists(t, srv, k) {
				copies++
			}
		}
		if copies != 1 {
			t.Errorf("%v: %d copies after SetTag, want 1", tc.tags, copies)
		}
	}
}

// A tag change that died after its journal and its copy (the old key still
// there) is seen as done: the message is not served as unread again, and
// once the journal is stale the next reader completes it.
func TestInterruptedTagChange(t *testing.T) {
	srv := s3test.StartFake(t)
	s := newStore(t, srv, nil)
	base := t.Name() + "/m/"
	body := []byte("Subject: half moved\r\n\r\n")
	plant(t, srv, base+"moving", body)
	plant(t, srv, base+".izypop3/archive/moving", body)
	plant(t, srv, base+"notyet", body) // copy not made yet
	plant(t, srv, base+".izypop3/journal/1.x", []byte(`{"to":"archive","moves":[{"n":"moving","from":"unread"},{"n":"notyet","from":"unread"}]}`))
	for _, it := range storetest.List(t, s, "m", sdk.TagUnread) {
		t.Errorf("listed as unread during an interrupted move: %+v", it)
	}
	if st, err := s.Stat(t.Context(), "m"); err != nil || st[sdk.TagArchive].Count != 2 || st[sdk.TagUnread].Count != 0 {
		t.Errorf("Stat = %+v, %v; want 2 archived", st, err)
	}
	defer cloudstore.SetJournalStale(0)()
	other := newStore(t, srv, nil)
	storetest.List(t, other, "m", sdk.TagUnread) // completes the journal
	for key, want := range map[string]bool{
		base + "moving": false, base + "notyet": false,
		base + ".izypop3/archive/moving": true, base + ".izypop3/archive/notyet": true,
		base + ".izypop3/journal/1.x": false,
	} {
		if got := exists(t, srv, key); got != want {
			t.Errorf("after recovery: %s exists = %v, want %v", key, got, want)
		}
	}
	if got := storetest.Fetch(t, other, "m", "notyet"); !bytes.Equal(got, body) {
		t.Errorf("recovered message = %q", got)
	}
}

func TestConfig(t *testing.T) {
	srv := s3test.StartFake(t)
	for _, tc := range []struct {
		cfg  map[string]string
		want string
	}{
		{map[string]string{"tablename": srv.Bucket, "dataservice": srv.Endpoint, "pathstyl": "true"}, `"mimestore.pathstyl"`},
		// verbose is izypop3's key, never passed to a store.
		{map[string]string{"tablename": srv.Bucket, "dataservice": srv.Endpoint, "verbose": "true"}, `"mimestore.verbose"`},
		{map[string]string{"dataservice": srv.Endpoint}, "mimestore.tablename"},
		{map[string]string{"tablename": srv.Bucket, "dataservice": srv.Endpoint, "accesstoken": "nocolon"}, "KEY:SECRET"},
		{map[string]string{"tablename": srv.Bucket, "dataservice": "ftp://x"}, "mimestore.dataservice"},
		{map[string]string{"tablename": srv.Bucket, "dataservice": srv.Endpoint, "readahead": "0"}, "mimestore.readahead"},
		{map[string]string{"tablename": srv.Bucket, "dataservice": srv.Endpoint, "lockttl": "10ms"}, "mimestore.lockttl"},
		{map[string]string{"tablename": "no-such-bucket", "dataservice": srv.Endpoint, "accesstoken": "a:b"}, "NoSuchBucket"},
	} {
		err := cloudstore.New(nil).Configure(t.Context(), tc.cfg)
		if err == nil || !errors.Is(err, sdk.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Configure(%v) = %v, want ErrInvalid naming %s", tc.cfg, err, tc.want)
		}
		if err != nil && strings.Contains(tc.cfg["tablename"], "no-such") && !strings.Contains(err.Error(), srv.Endpoint) {
			t.Errorf("start-up error %q does not name the endpoint", err)
		}
	}
	// An endpoint that cannot be reached may come back: ErrUnavailable, not
	// a refused configuration (izypop3 exits 1 and may be restarted).
	closed := testkit.FreePort(t)
	err := cloudstore.New(nil).Configure(t.Context(), map[string]string{"tablename": srv.Bucket,
		"dataservice": "http://127.0.0.1:" + strconv.Itoa(closed), "accesstoken": "a:b"})
	if !errors.Is(err, sdk.ErrUnavailable) || errors.Is(err, sdk.ErrInvalid) || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("Configure with an unreachable endpoint = %v, want ErrUnavailable, endpoint unreachable", err)
	}
	// The seed's keys work, plus region.
	cfg := srv.Config("seed")
	cfg["region"] = "eu-west-1"
	if err := cloudstore.New(nil).Configure(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
}

// Throttling and 5xx become ErrUnavailable after bounded retries, and no
// provider error text is passed on.
func TestErrorsUnavailable(t *testing.T) {
	srv := s3test.StartFake(t)
	s := newStore(t, srv, nil)
	res, err := s.Put(t.Context(), "m", sdk.PutOptions{}, strings.NewReader("Subject: x\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	const secretText = "provider-internal-detail-42"
	var calls atomic.Int64
	for _, status := range []int{http.StatusServiceUnavailable, http.StatusInternalServerError, http.StatusTooManyRequests} {
		calls.Store(0)
		srv.Inject(func(w http.ResponseWriter, r *http.Request) bool {
			if r.Method != http.MethodGet {
				return false
			}
			calls.Add(1)
			w.WriteHeader(status)
			fmt.Fprintf(w, "<Error><Code>SlowDown</Code><Message>%s</Message></Error>", secretText)
			return true
		})
		start := time.Now()
		_, err := s.Fetch(t.Context(), "m", res.UID)
		if !errors.Is(err, sdk.ErrUnavailable) {
			t.Errorf("HTTP %d: Fetch error %v, want ErrUnavailable", status, err)
		}
		if err != nil && strings.Contains(err.Error(), secretText) {
			t.Errorf("HTTP %d: the provider's text reached the error: %v", status, err)
		}
		if n := calls.Load(); n < 2 || n > 8 {
			t.Errorf("HTTP %d: %d attempts, want bounded retries", status, n)
		}
		t.Logf("HTTP %d: %v after %d attempts in %v", status, err, calls.Load(), time.Since(start))
	}
	srv.Inject(nil)
	// Access denied at start-up names the endpoint, the bucket and the cause.
	srv.Inject(func(w http.ResponseWriter, r *http.Request) bool {
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, "<Error><Code>SignatureDoesNotMatch</Code><Message>x</Message></Error>")
		return true
	})
	err = cloudstore.New(nil).Configure(t.Context(), srv.Config("p"))
	if err == nil || !strings.Contains(err.Error(), srv.Endpoint) || !strings.Contains(err.Error(), srv.Bucket) || !strings.Contains(err.Error(), "secret key is wrong") {
		t.Errorf("Configure with a wrong secret: %v", err)
	}
	srv.Inject(nil)
}

// Two stores on one bucket exclude each other; a holder that stopped
// refreshing (killed) loses the lock after its TTL.
func TestSharedLock(t *testing.T) {
	srv := s3test.StartFake(t)
	a := newStore(t, srv, map[string]string{"lockttl": "1s"})
	b := newStore(t, srv, map[string]string{"lockttl": "1s"})
	ctx := t.Context()
	tok, err := a.Lock(ctx, "m")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // past the TTL: the refresh keeps it
	if _, err := b.Lock(ctx, "m"); !errors.Is(err, sdk.ErrInUse) {
		t.Fatalf("second store: %v, want ErrInUse", err)
	}
	if err := a.Unlock(ctx, "m", tok); err != nil {
		t.Fatal(err)
	}
	tok, err = b.Lock(ctx, "m")
	if err != nil {
		t.Fatalf("Lock after Unlock: %v", err)
	}
	b.AbandonLocks() // b "dies" holding it
	if _, err := a.Lock(ctx, "m"); !errors.Is(err, sdk.ErrInUse) {
		t.Fatalf("right after the holder died: %v, want ErrInUse", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := a.Lock(ctx, "m")
		if err == nil {
			break
		}
		if !errors.Is(err, sdk.ErrInUse) || time.Now().After(deadline) {
			t.Fatalf("Lock after the holder's TTL: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// A backend that ignores If-None-Match is detected at start-up (one
// warning line) and the store does not claim a shared lock.
func TestConditionalWritesIgnored(t *testing.T) {
	srv := s3test.StartFake(t)
	srv.Inject(func(w http.ResponseWriter, r *http.Request) bool {
		r.Header.Del("If-None-Match")
		r.Header.Del("If-Match")
		return false
	})
	defer srv.Inject(nil)
	var logs bytes.Buffer
	s := cloudstore.New(slog.New(slog.NewTextHandler(&logs, nil)))
	if err := s.Configure(t.Context(), srv.Config("p")); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "ignores conditional writes"); n != 1 {
		t.Errorf("%d warning lines about conditional writes, want 1:\n%s", n, logs.String())
	}
	if _, err := s.Lock(t.Context(), "m"); !errors.Is(err, sdk.ErrUnsupported) {
		t.Errorf("Lock = %v, want ErrUnsupported", err)
	}
}

// FetchBatch keeps several GETs in flight (readahead) and one with
// readahead 1.
func TestFetchBatchConcurrency(t *testing.T) {
	for _, ra := range []int{1, 8} {
		t.Run(fmt.Sprint(ra), func(t *testing.T) {
			srv := s3test.StartFake(t)
			s := newStore(t, srv, map[string]string{"readahead": fmt.Sprint(ra)})
			want := map[string][]byte{}
			for i := range 30 {
				body := fmt.Appendf(nil, "Subject: %d\r\n\r\n%s\r\n", i, strings.Repeat("x", i*100))
				res, err := s.Put(t.Context(), "m", sdk.PutOptions{}, bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				want[res.UID] = body
			}
			items := storetest.List(t, s, "m")
			var inflight, peak atomic.Int64
			srv.Inject(func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method == http.MethodGet && !strings.Contains(r.URL.RawQuery, "list-type") {
					n := inflight.Add(1)
					for {
						p := peak.Load()
						if n <= p || peak.CompareAndSwap(p, n) {
							break
						}
					}
					time.Sleep(20 * time.Millisecond) // a high-latency backend
					inflight.Add(-1)
				}
				return false
			})
			defer srv.Inject(nil)
			uids := make([]string, len(items))
			for i, it := range items {
				uids[i] = it.UID
			}
			start := time.Now()
			br, err := s.FetchBatch(t.Context(), "m", uids)
			if err != nil {
				t.Fatal(err)
			}
			defer br.Close()
			for i := range uids {
				uid, r, err := br.Next()
				if err != nil || uid != uids[i] {
					t.Fatalf("Next %d: %q %v", i, uid, err)
				}
				got, err := io.ReadAll(r)
				if err != nil || !bytes.Equal(got, want[uid]) {
					t.Fatalf("item %d: %d octets, %v", i, len(got), err)
				}
			}
			if _, _, err := br.Next(); err != io.EOF {
				t.Fatalf("after the last item: %v", err)
			}
			p := peak.Load()
			t.Logf("readahead %d: %d GETs at most in flight, %v for %d items", ra, p, time.Since(start), len(uids))
			if ra == 1 && p != 1 || ra > 1 && p < 4 {
				t.Errorf("readahead %d: peak %d GETs in flight", ra, p)
			}
		})
	}
}
