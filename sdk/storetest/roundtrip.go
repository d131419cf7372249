package storetest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"
	"testing/iotest"
	"time"

	"github.com/izyware/izypop3/sdk"
)

// testRoundTripSizes puts, lists and fetches messages of sizes around the
// chunk boundaries, above gRPC's default message limit and at 50 MiB. Bodies
// are generated on the fly and compared octet for octet as they stream back,
// so no size needs a buffer of its own size.
func testRoundTripSizes(t *testing.T, su *suite) {
	sizes := []struct {
		name string
		n    int64
	}{
		{"0", 0},
		{"1", 1},
		{"256KiB-1", chunkSize - 1},
		{"256KiB", chunkSize},
		{"256KiB+1", chunkSize + 1},
		{"5MiB", sizeOverGRPCLimit},
		{"50MiB", sizeHuge},
	}
	for _, sz := range sizes {
		t.Run(sz.name, func(t *testing.T) {
			if sz.n == sizeHuge && testing.Short() {
				t.Skip("skipping the 50 MiB round trip because of -short; it runs in every full test run (CI)")
			}
			roundTrip(t, su, sz.n)
		})
	}
}

func roundTrip(t *testing.T, su *suite, n int64) {
	s := su.s
	seed := su.seed()
	h := sha256.New()
	var wc sdk.WireCounter
	body := &countingReader{r: io.TeeReader(newGen(seed, n), io.MultiWriter(h, &wc))}
	res, err := s.Put(t.Context(), mailboxA, sdk.PutOptions{}, body)
	if err != nil {
		t.Fatalf("Put of %d octets: %v", n, err)
	}
	if !body.eof || body.n != n {
		t.Errorf("Put read %d octets of the body (EOF seen: %v), want all %d", body.n, body.eof, n)
	}
	wantSHA := hex.EncodeToString(h.Sum(nil))
	if !sdk.ValidUID(res.UID) {
		t.Errorf("PutResult.UID %q is not a valid UID", res.UID)
	}
	if res.Size != n {
		t.Errorf("PutResult.Size = %d, want %d", res.Size, n)
	}
	if res.SHA256 != wantSHA {
		t.Errorf("PutResult.SHA256 = %q, want %q", res.SHA256, wantSHA)
	}
	if res.Tag != sdk.TagUnread || res.Existing || res.DuplicateOf != "" {
		t.Errorf("PutResult = %+v, want Tag unread, not Existing, no DuplicateOf", res)
	}

	it := mustFind(t, s, mailboxA, res.UID)
	if it.Size != n {
		t.Errorf("Item.Size = %d, want %d", it.Size, n)
	}
	if it.Tag != sdk.TagUnread {
		t.Errorf("Item.Tag = %q, want unread", it.Tag)
	}
	checkWireSize(t, it, wc.Size())

	rc, err := s.Fetch(t.Context(), mailboxA, res.UID)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	defer rc.Close()
	if _, err := compareStreams(rc, newGen(seed, n)); err != nil {
		t.Fatalf("Fetch of a %d-octet message: %v", n, err)
	}
	if err := rc.Close(); err != nil {
		t.Errorf("Close after a full Fetch: %v", err)
	}
}

// binaryCases are messages a store must carry unchanged: a store deals in
// octets, not lines or text.
var binaryCases = []struct {
	name string
	body string
}{
	{"NUL", "Subject: nul\r\n\r\na\x00b\r\n\x00\r\n\x00"},
	{"LoneCR", "Subject: cr\r\n\r\nline\rwith a lone CR\r\nends in CR\r"},
	{"LoneLF", "Subject: lf\n\nbare\nLF line ends\n"},
	{"CRLFMix", "Subject: mix\r\n\nline1\r\nline2\nline3\r\r\nline4\n\rline5\n\n\r\n"},
	{"DotLines", "Subject: dots\r\n\r\n.\r\n..\r\n.hidden\r\n. \r\n.\n.\r"},
	{"NoFinalNewline", "Subject: no final newline\r\n\r\nthe last line has no line end"},
	{"EightBit", "Subject: 8bit\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße, naïve café, 日本語\r\n\xff\xfe\x80\x81 not UTF-8\r\n"},
	{"AllOctets", allOctets()},
	{"OnlyCRLF", "\r\n"},
	{"SingleDot", "."},
	{"TerminatorInBody", "Subject: terminator\r\n\r\nbefore\r\n.\r\nafter\r\n"},
	{"LongLine", "Subject: long line\r\n\r\n" + string(bytes.Repeat([]byte("x"), 5000)) + "\r\n"},
}

func allOctets() string {
	b := make([]byte, 512)
	for i := range b {
		b[i] = byte(i)
	}
	return string(b)
}

func testBinarySafety(t *testing.T, su *suite) {
	for _, bc := range binaryCases {
		t.Run(bc.name, func(t *testing.T) {
			body := []byte(bc.body)
			res := put(t, su.s, mailboxA, sdk.PutOptions{}, body)
			if res.Size != int64(len(body)) || res.SHA256 != hexSHA(body) {
				t.Errorf("PutResult Size %d SHA256 %s, want %d %s", res.Size, res.SHA256, len(body), hexSHA(body))
			}
			if res.DuplicateOf != "" || res.Tag != sdk.TagUnread {
				t.Errorf("PutResult = %+v, want a new unread item", res)
			}
			checkItem(t, mustFind(t, su.s, mailboxA, res.UID), body)
			if got := Fetch(t, su.s, mailboxA, res.UID); !bytes.Equal(got, body) {
				off, _ := compareStreams(bytes.NewReader(got), bytes.NewReader(body))
				t.Errorf("Fetch returned %d octets differing from the %d put at offset %d:\n got %q\nwant %q",
					len(got), len(body), off, got, body)
			}
			// The reader keeps the io.Reader contract at every read size.
			rc, err := su.s.Fetch(t.Context(), mailboxA, res.UID)
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			defer rc.Close()
			if err := iotest.TestReader(rc, body); err != nil {
				t.Errorf("Fetch reader: %v", err)
			}
		})
	}
}

// testPutResultAndItem checks what Put reports and what List shows for the
// options of Put: every tag, SourceID and Received.
func testPutResultAndItem(t *testing.T, su *suite) {
	s := su.s
	received := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	source := "pop3://user@pop.example.invalid:995/" + su.nonce
	body := su.message("options")
	res := put(t, s, mailboxA, sdk.PutOptions{Tag: sdk.TagStaged, SourceID: source, Received: received}, body)
	if res.Tag != sdk.TagStaged || res.Size != int64(len(body)) || res.SHA256 != hexSHA(body) || res.Existing {
		t.Errorf("PutResult = %+v, want Tag staged, Size %d, SHA256 %s, not Existing", res, len(body), hexSHA(body))
	}
	it := mustFind(t, s, mailboxA, res.UID)
	checkItem(t, it, body)
	if it.Tag != sdk.TagStaged {
		t.Errorf("Item.Tag = %q, want staged", it.Tag)
	}
	if it.SourceID != source {
		t.Errorf("Item.SourceID = %q, want %q", it.SourceID, source)
	}
	if !it.Received.IsZero() && absDur(it.Received.Sub(received)) > time.Second {
		t.Errorf("Item.Received = %v, want %v (PutOptions.Received)", it.Received, received)
	}

	// Received zero means now.
	before := time.Now()
	res = put(t, s, mailboxA, sdk.PutOptions{}, su.message("received now"))
	after := time.Now()
	it = mustFind(t, s, mailboxA, res.UID)
	if !it.Received.IsZero() && (it.Received.Before(before.Add(-2*time.Second)) || it.Received.After(after.Add(2*time.Second))) {
		t.Errorf("Item.Received = %v, want now (between %v and %v)", it.Received, before, after)
	}
	if it.SourceID != "" {
		t.Errorf("Item.SourceID = %q for a Put without one", it.SourceID)
	}

	for _, tag := range sdk.Tags {
		res := put(t, s, mailboxA, sdk.PutOptions{Tag: tag}, su.message("tag "+string(tag)))
		if res.Tag != tag {
			t.Errorf("Put with Tag %q: PutResult.Tag = %q", tag, res.Tag)
		}
		if it := mustFind(t, s, mailboxA, res.UID); it.Tag != tag {
			t.Errorf("Put with Tag %q: Item.Tag = %q", tag, it.Tag)
		}
	}
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
