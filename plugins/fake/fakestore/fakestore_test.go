package fakestore

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/emersion/go-message/mail"
	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/pluginhost"
	"github.com/izyware/izypop3/sdk/storetest"
)

func configured(t testing.TB, cfg map[string]string) *Store {
	t.Helper()
	s := New()
	if err := s.Configure(t.Context(), cfg); err != nil {
		t.Fatalf("Configure(%v): %v", cfg, err)
	}
	return s
}

func TestDefaults(t *testing.T) {
	s := New()
	items := storetest.List(t, s, "INBOX")
	if len(items) != DefaultCount {
		t.Fatalf("a fresh mailbox has %d items, want %d", len(items), DefaultCount)
	}
	st, err := s.Stat(t.Context(), "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if st[sdk.TagUnread].Count != DefaultCount || len(st) != 1 {
		t.Errorf("Stat = %v, want %d unread only", st, DefaultCount)
	}
	for i, it := range items {
		if it.Tag != sdk.TagUnread || !sdk.ValidUID(it.UID) {
			t.Errorf("item %d = %+v, want a valid UID, unread", i, it)
		}
		if it.Size < DefaultMinSize || it.Size > DefaultMaxSize {
			t.Errorf("item %d: Size %d outside [%d, %d]", i, it.Size, DefaultMinSize, DefaultMaxSize)
		}
		body := storetest.Fetch(t, s, "INBOX", it.UID)
		ws, _ := sdk.WireSizeOf(bytes.NewReader(body))
		if int64(len(body)) != it.Size || it.WireSize != ws || ws != it.Size {
			t.Errorf("item %d: Size %d WireSize %d, fetched %d octets with wire size %d", i, it.Size, it.WireSize, len(body), ws)
		}
		if !it.Received.Equal(genDate(i)) {
			t.Errorf("item %d: Received %v, want %v", i, it.Received, genDate(i))
		}
	}
	// Every mailbox name gets its own generated messages.
	other := storetest.List(t, s, "someone else")
	if len(other) != DefaultCount || other[0].UID == items[0].UID {
		t.Errorf("another mailbox: %d items, first UID %q (INBOX's is %q)", len(other), other[0].UID, items[0].UID)
	}
}

// digest returns the UIDs of a mailbox and the SHA-256 of all its messages.
func digest(t *testing.T, s sdk.Store, mailbox string) ([]string, string) {
	t.Helper()
	h := sha256.New()
	var uids []string
	for _, it := range storetest.List(t, s, mailbox) {
		uids = append(uids, it.UID)
		fmt.Fprintf(h, "%s %d\n", it.UID, it.Size)
		h.Write(storetest.Fetch(t, s, mailbox, it.UID))
	}
	return uids, hex.EncodeToString(h.Sum(nil))
}

// Golden values for the default configuration. They change only if the
// generator changes (or go-message changes how it writes headers), which
// breaks "the same messages on every run": bump them deliberately.
const (
	goldenFirstUID = "a489273bd229ba6195a4"
	goldenDigest   = "ef342cc0d6d78763629fd3a23a40c7ef87d80367ff2e2d5d4102a6dd8a72ce41"
)

func TestDeterminism(t *testing.T) {
	cfgs := []map[string]string{
		nil,
		{"seed": "7", "count": "20", "minsize": "100", "maxsize": "300000"},
	}
	for _, cfg := range cfgs {
		a, b := configured(t, cfg), configured(t, cfg)
		ua, da := digest(t, a, "INBOX")
		ub, db := digest(t, b, "INBOX")
		if strings.Join(ua, ",") != strings.Join(ub, ",") || da != db {
			t.Errorf("config %v: two stores differ: %s vs %s", cfg, da, db)
		}
		if cfg == nil {
			if ua[0] != goldenFirstUID {
				t.Errorf("first UID of the default INBOX = %q, want %q", ua[0], goldenFirstUID)
			}
			if goldenDigest != "" && da != goldenDigest {
				t.Errorf("digest of the default INBOX = %s, want %s", da, goldenDigest)
			}
			t.Logf("default INBOX digest %s", da)
		}
	}
	// Another seed or mailbox gives other UIDs.
	u1, _ := digest(t, configured(t, map[string]string{"count": "3"}), "INBOX")
	u2, _ := digest(t, configured(t, map[string]string{"count": "3", "seed": "2"}), "INBOX")
	u3, _ := digest(t, configured(t, map[string]string{"count": "3"}), "INBOX2")
	for i := range u1 {
		if u1[i] == u2[i] || u1[i] == u3[i] {
			t.Errorf("UID %d is %q for another seed or mailbox too", i, u1[i])
		}
	}
}

func TestMessagesParse(t *testing.T) {
	s := configured(t, map[string]string{"count": "30"})
	kinds := map[string]int{}
	for i, it := range storetest.List(t, s, "Jürgen's \"box\"") {
		raw := storetest.Fetch(t, s, "Jürgen's \"box\"", it.UID)
		if n, crlf := bytes.Count(raw, []byte("\n")), bytes.Count(raw, []byte("\r\n")); n != crlf || bytes.Count(raw, []byte("\r")) != crlf {
			t.Errorf("message %d: %d LF, %d CR, %d CRLF: want CRLF line ends only", i, n, bytes.Count(raw, []byte("\r")), crlf)
		}
		if !bytes.HasSuffix(raw, []byte("\r\n")) {
			t.Errorf("message %d does not end with CRLF", i)
		}
		if !bytes.Contains(raw, []byte("\r\n.This line starts with a dot.\r\n")) {
			t.Errorf("message %d has no line starting with a dot", i)
		}
		mr, err := mail.CreateReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("message %d: go-message cannot read it: %v", i, err)
		}
		if d, err := mr.Header.Date(); err != nil || !d.Equal(it.Received) {
			t.Errorf("message %d: Date %v (%v), want %v", i, d, err, it.Received)
		}
		if from, err := mr.Header.AddressList("From"); err != nil || len(from) != 1 {
			t.Errorf("message %d: From %v (%v)", i, from, err)
		}
		if to, err := mr.Header.AddressList("To"); err != nil || len(to) != 1 || to[0].Name != "Jürgen's \"box\"" {
			t.Errorf("message %d: To %v (%v)", i, to, err)
		}
		if subj, err := mr.Header.Subject(); err != nil || !strings.Contains(subj, fmt.Sprintf("(fake %d of 30)", i+1)) {
			t.Errorf("message %d: Subject %q (%v)", i, subj, err)
		}
		if id, err := mr.Header.MessageID(); err != nil || id != it.UID+"@fake.izypop3.invalid" {
			t.Errorf("message %d: Message-ID %q (%v)", i, id, err)
		}
		mt, _, _ := mr.Header.ContentType()
		kinds[mt]++
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("message %d: NextPart: %v", i, err)
			}
			body, err := io.ReadAll(p.Body)
			if err != nil {
				t.Fatalf("message %d: reading a part: %v", i, err)
			}
			switch h := p.Header.(type) {
			case *mail.InlineHeader:
				ct, params, _ := h.ContentType()
				if ct != "text/plain" || !utf8.Valid(body) || !bytes.HasPrefix(body, []byte("Hello,")) {
					t.Errorf("message %d: text part %s %v, valid UTF-8 %v", i, ct, params, utf8.Valid(body))
				}
				cte := h.Get("Content-Transfer-Encoding")
				if cte == "8bit" && !bytes.Contains(body, []byte("Grüße")) {
					t.Errorf("message %d: 8bit part without 8-bit text", i)
				}
				if cte == "7bit" && bytes.ContainsFunc(body, func(r rune) bool { return r >= 0x80 }) {
					t.Errorf("message %d: 7bit part with 8-bit octets", i)
				}
				kinds["text "+cte]++
			case *mail.AttachmentHeader:
				name, _ := h.Filename()
				if name != fmt.Sprintf("data-%d.bin", i) || len(body) < 64 {
					t.Errorf("message %d: attachment %q of %d octets", i, name, len(body))
				}
				kinds["attachment"]++
			}
		}
	}
	for _, k := range []string{"text/plain", "multipart/mixed", "text 8bit", "text 7bit", "attachment"} {
		if kinds[k] == 0 {
			t.Errorf("no message of kind %q among %v", k, kinds)
		}
	}
}

func TestConfigure(t *testing.T) {
	bad := []struct {
		key string
		cfg map[string]string
	}{
		{"colour", map[string]string{"colour": "blue"}},
		{"count", map[string]string{"count": "many"}},
		{"count", map[string]string{"count": "-1"}},
		{"count", map[string]string{"count": fmt.Sprint(MaxCount + 1)}},
		{"maxsize", map[string]string{"maxsize": fmt.Sprint(MaxGeneratedSize + 1)}},
		{"seed", map[string]string{"seed": "0x10"}},
		{"maxsize", map[string]string{"minsize": "10", "maxsize": "5"}},
		{"mailbox.count", map[string]string{"mailbox.count": "3"}},
		{"mailbox.a/b.count", map[string]string{"mailbox.a/b.count": "3"}},
		{"mailbox.box.colour", map[string]string{"mailbox.box.colour": "red"}},
		{"mailbox.box.maxsize", map[string]string{"mailbox.box.maxsize": "1"}},
	}
	for _, bc := range bad {
		err := New().Configure(t.Context(), bc.cfg)
		if !errors.Is(err, sdk.ErrInvalid) || !strings.Contains(err.Error(), bc.key) {
			t.Errorf("Configure(%v) = %v, want ErrInvalid naming %q", bc.cfg, err, bc.key)
		}
	}

	s := configured(t, map[string]string{
		"count": "4", "minsize": "3000", "maxsize": "3000",
		"mailbox.big.box.count": "2", "mailbox.big.box.minsize": "200000", "mailbox.big.box.maxsize": "200000",
		"mailbox.empty.count": "0",
	})
	check := func(mailbox string, n int, size int64) {
		items := storetest.List(t, s, mailbox)
		if len(items) != n {
			t.Errorf("%q: %d items, want %d", mailbox, len(items), n)
		}
		for _, it := range items {
			if it.Size != size {
				t.Errorf("%q: item of %d octets, want %d", mailbox, it.Size, size)
			}
			if got := int64(len(storetest.Fetch(t, s, mailbox, it.UID))); got != size {
				t.Errorf("%q: fetched %d octets, want %d", mailbox, got, size)
			}
		}
	}
	check("INBOX", 4, 3000)
	check("big.box", 2, 200000)
	check("empty", 0, 0)
}

func TestFetchTop(t *testing.T) {
	s := configured(t, map[string]string{"count": "6", "minsize": "30000", "maxsize": "60000"})
	for _, it := range storetest.List(t, s, "INBOX") {
		full := storetest.Fetch(t, s, "INBOX", it.UID)
		hdrEnd := bytes.Index(full, []byte("\r\n\r\n")) + 4
		for _, n := range []int{0, 1, 4, 7, 100000} {
			rc, err := s.FetchTop(t.Context(), "INBOX", it.UID, n)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(rc)
			want := full[:hdrEnd]
			rest := full[hdrEnd:]
			for range n {
				i := bytes.IndexByte(rest, '\n')
				if i < 0 {
					want = full
					break
				}
				want = full[:len(want)+i+1]
				rest = rest[i+1:]
			}
			if !bytes.Equal(got, want) {
				t.Errorf("FetchTop(%s, %d): %d octets, want %d", it.UID, n, len(got), len(want))
			}
		}
	}
	if _, err := s.FetchTop(t.Context(), "INBOX", "nope", 1); !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("FetchTop of an unknown UID: %v", err)
	}
}

// TestPutOfGeneratedIsDup checks that a Put of a generated message's octets
// is seen as a duplicate of it.
func TestPutOfGeneratedIsDup(t *testing.T) {
	s := configured(t, map[string]string{"count": "5"})
	items := storetest.List(t, s, "INBOX")
	body := storetest.Fetch(t, s, "INBOX", items[3].UID)
	res, err := s.Put(t.Context(), "INBOX", sdk.PutOptions{Tag: sdk.TagStaged}, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if res.Tag != sdk.TagDup || res.DuplicateOf != items[3].UID {
		t.Errorf("Put of a generated message = %+v, want dup of %q", res, items[3].UID)
	}
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) sdk.Store { return New() })
}

func TestConformanceGRPC(t *testing.T) {
	storetest.RunGRPC(t, func(t *testing.T) sdk.Store { return New() })
}

// benchFetch fetches the messages of s's INBOX, each size octets, in
// turn.
func benchFetch(b *testing.B, s sdk.Store, size int64) {
	items := storetest.List(b, s, "INBOX")
	b.SetBytes(size)
	buf := make([]byte, 256<<10)
	i := 0
	for b.Loop() {
		rc, err := s.Fetch(b.Context(), "INBOX", items[i%len(items)].UID)
		if err != nil {
			b.Fatal(err)
		}
		if n, err := io.CopyBuffer(io.Discard, rc, buf); err != nil || n != size {
			b.Fatalf("fetched %d octets (%v), want %d", n, err, size)
		}
		rc.Close()
		i++
	}
}

func BenchmarkFetch(b *testing.B) {
	for _, size := range []int64{10 << 10, 1 << 20, 50 << 20} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			s := configured(b, map[string]string{"count": "4", "minsize": fmt.Sprint(size), "maxsize": fmt.Sprint(size)})
			benchFetch(b, s, size)
		})
	}
}

func BenchmarkList(b *testing.B) {
	for _, count := range []int{99, 10000} {
		b.Run(fmt.Sprintf("items=%d", count), func(b *testing.B) {
			s := configured(b, map[string]string{"count": fmt.Sprint(count)})
			if n := len(storetest.List(b, s, "INBOX")); n != count {
				b.Fatalf("%d items, want %d", n, count)
			}
			for b.Loop() {
				n := 0
				for _, err := range s.List(b.Context(), "INBOX", sdk.ListOptions{Tags: []sdk.Tag{sdk.TagUnread}}) {
					if err != nil {
						b.Fatal(err)
					}
					n++
				}
				if n != count {
					b.Fatalf("%d items, want %d", n, count)
				}
			}
		})
	}
}

// BenchmarkFirstUse measures generating a mailbox's metadata on first use.
func BenchmarkFirstUse(b *testing.B) {
	for _, count := range []int{99, 10000} {
		b.Run(fmt.Sprintf("items=%d", count), func(b *testing.B) {
			cfg := map[string]string{"count": fmt.Sprint(count)}
			for b.Loop() {
				s := configured(b, cfg)
				if _, err := s.Stat(b.Context(), "INBOX"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestFiller(t *testing.T) {
	for _, ascii := range []bool{false, true} {
		for n := int64(0); n < 400; n++ {
			if n == 1 {
				continue
			}
			checkFiller(t, n, ascii)
		}
		for _, n := range []int64{1000, 4097, 123457, 1 << 20} {
			checkFiller(t, n, ascii)
		}
	}
}

func checkFiller(t *testing.T, n int64, ascii bool) {
	t.Helper()
	b, err := io.ReadAll(newFiller(uint64(n), n, ascii))
	if err != nil || int64(len(b)) != n {
		t.Fatalf("filler(%d, ascii %v): %d octets, %v", n, ascii, len(b), err)
	}
	if n == 0 {
		return
	}
	if !bytes.HasSuffix(b, []byte("\r\n")) || bytes.Count(b, []byte("\n")) != bytes.Count(b, []byte("\r\n")) ||
		bytes.Count(b, []byte("\r")) != bytes.Count(b, []byte("\r\n")) {
		t.Fatalf("filler(%d): not CRLF lines: %q", n, b[max(0, len(b)-100):])
	}
	for _, line := range bytes.Split(b[:len(b)-2], []byte("\r\n")) {
		if len(line) > fillMaxLine+1 {
			t.Fatalf("filler(%d): line of %d octets", n, len(line))
		}
	}
	if !utf8.Valid(b) || (ascii && bytes.ContainsFunc(b, func(r rune) bool { return r >= 0x80 })) {
		t.Fatalf("filler(%d, ascii %v): bad text", n, ascii)
	}
	if again, _ := io.ReadAll(newFiller(uint64(n), n, ascii)); !bytes.Equal(again, b) {
		t.Fatalf("filler(%d): not deterministic", n)
	}
}

// BenchmarkGRPC is Fetch and List through pluginhost.ServeInProcess: the same
// store behind real gRPC on loopback, as a plugin is seen minus the process
// boundary.
func BenchmarkGRPC(b *testing.B) {
	serve := func(b *testing.B, cfg map[string]string) sdk.Store {
		r, stop, err := pluginhost.ServeInProcess(configured(b, cfg), pluginhost.Info{Name: "fake"})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { stop() })
		return r
	}
	for _, size := range []int64{10 << 10, 1 << 20, 50 << 20} {
		b.Run(fmt.Sprintf("Fetch/size=%d", size), func(b *testing.B) {
			s := serve(b, map[string]string{"count": "4", "minsize": fmt.Sprint(size), "maxsize": fmt.Sprint(size)})
			benchFetch(b, s, size)
		})
	}
	for _, count := range []int{99, 10000} {
		b.Run(fmt.Sprintf("List/items=%d", count), func(b *testing.B) {
			s := serve(b, map[string]string{"count": fmt.Sprint(count)})
			storetest.List(b, s, "INBOX")
			for b.Loop() {
				if n := len(storetest.List(b, s, "INBOX")); n != count {
					b.Fatalf("%d items, want %d", n, count)
				}
			}
		})
	}
}

func TestMaxPutSize(t *testing.T) {
	s := configured(t, map[string]string{"count": "0"})
	s.maxPut = 1000
	if _, err := s.Put(t.Context(), "INBOX", sdk.PutOptions{}, bytes.NewReader(bytes.Repeat([]byte("x"), 1001))); !errors.Is(err, sdk.ErrInvalid) {
		t.Errorf("Put of maxPut+1 octets: %v, want ErrInvalid", err)
	}
	if n := len(storetest.List(t, s, "INBOX")); n != 0 {
		t.Errorf("a refused Put left %d items", n)
	}
	res, err := s.Put(t.Context(), "INBOX", sdk.PutOptions{}, bytes.NewReader(bytes.Repeat([]byte("x"), 1000)))
	if err != nil || res.Size != 1000 {
		t.Errorf("Put of maxPut octets: %+v, %v", res, err)
	}
}

func TestWireSize(t *testing.T) {
	cases := []string{"", "a", "\r", "\n", "\r\n", "\n\r", "a\rb\nc\r\nd", "x\r\r\n\n", ".\r\n", "no end"}
	for _, c := range cases {
		want, _ := sdk.WireSizeOf(strings.NewReader(c))
		if got := wireSize([]byte(c)); got != want {
			t.Errorf("wireSize(%q) = %d, want %d", c, got, want)
		}
	}
}

// TestOctetCache checks that a Fetch served from the rendered-message cache
// gives the octets generated from the skeleton, that a message larger than
// octetCacheItemBytes is not kept, and that Delete returns the budget.
func TestOctetCache(t *testing.T) {
	s := configured(t, map[string]string{"count": "3", "minsize": "20000", "maxsize": "22000",
		"mailbox.big.count": "1", "mailbox.big.minsize": fmt.Sprint(octetCacheItemBytes + 1),
		"mailbox.big.maxsize": fmt.Sprint(octetCacheItemBytes + 1)})
	items := storetest.List(t, s, "INBOX")
	var want int64
	for _, it := range items {
		b := s.boxes["INBOX"]
		sk, err := b.p.render("INBOX", b.byUID[it.UID].gen)
		if err != nil {
			t.Fatal(err)
		}
		gen, err := io.ReadAll(sk.reader(t.Context()))
		if err != nil {
			t.Fatal(err)
		}
		first, second := storetest.Fetch(t, s, "INBOX", it.UID), storetest.Fetch(t, s, "INBOX", it.UID)
		if !bytes.Equal(first, gen) || !bytes.Equal(second, gen) || int64(len(gen)) != it.Size {
			t.Fatalf("%s: first/second Fetch %d/%d octets, generated %d, List size %d, equal %v/%v",
				it.UID, len(first), len(second), len(gen), it.Size, bytes.Equal(first, gen), bytes.Equal(second, gen))
		}
		if b.byUID[it.UID].oct == nil || b.byUID[it.UID].sk != nil {
			t.Fatalf("%s: octets not kept (or the skeleton kept too) after a Fetch", it.UID)
		}
		want += it.Size
	}
	if s.octets != want || s.cached != 0 {
		t.Fatalf("octets kept %d, want %d; skeleton octets %d, want 0", s.octets, want, s.cached)
	}
	big := storetest.List(t, s, "big")[0]
	if got := storetest.Fetch(t, s, "big", big.UID); int64(len(got)) != big.Size {
		t.Fatalf("big: %d octets, want %d", len(got), big.Size)
	}
	if s.boxes["big"].byUID[big.UID].oct != nil || s.octets != want {
		t.Fatalf("a message over octetCacheItemBytes was kept (octets %d, want %d)", s.octets, want)
	}
	if _, err := s.Delete(t.Context(), "INBOX", []string{items[0].UID}); err != nil {
		t.Fatal(err)
	}
	if want -= items[0].Size; s.octets != want {
		t.Fatalf("after Delete %d octets kept, want %d", s.octets, want)
	}
}
