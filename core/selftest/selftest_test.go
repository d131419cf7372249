package selftest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/storetest/memstore"
)

// filledStore is the sdk's reference store in which every mailbox holds
// count messages (more than a scenario needs) before it is first listed,
// like a store that already has mail: 20 KB each, with long, dot-stuffed
// and bare-LF lines.
type filledStore struct {
	*memstore.Store
	count int
	mu    sync.Mutex
	seen  map[string]bool
}

func filled(count int) *filledStore {
	return &filledStore{Store: memstore.New(), count: count, seen: make(map[string]bool)}
}

func (s *filledStore) List(ctx context.Context, mailbox string, opts sdk.ListOptions) iter.Seq2[sdk.Item, error] {
	s.mu.Lock()
	first := !s.seen[mailbox]
	s.seen[mailbox] = true
	s.mu.Unlock()
	if first {
		for i := range s.count {
			body := testMessage(mailbox, i) + strings.Repeat(fmt.Sprintf(".%d %s\n", i, strings.Repeat("x", 400)), 50)
			if _, err := s.Put(ctx, mailbox, sdk.PutOptions{}, strings.NewReader(body)); err != nil {
				return func(yield func(sdk.Item, error) bool) { yield(sdk.Item{}, err) }
			}
		}
	}
	return s.Store.List(ctx, mailbox, opts)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

var allScenarios = []string{"badlogin", "listandquit", "pop3failed", "retrsuccess", "pipelining", "delequit"}

func TestFullClientServerFilledStore(t *testing.T) {
	var out bytes.Buffer
	err := FullClientServer(testCtx(t), &out, filled(20), Options{Timeout: 10 * time.Second})
	t.Logf("output:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for _, name := range allScenarios {
		fmt.Fprintf(&want, "PASS %s\n", name)
	}
	if out.String() != want.String() {
		t.Errorf("output = %q, want %q", out.String(), want.String())
	}
}

// An empty store is topped up with generated messages, so the test works
// with a fresh store of any kind.
func TestFullClientServerEmptyStore(t *testing.T) {
	var out bytes.Buffer
	err := FullClientServer(testCtx(t), &out, memstore.New(), Options{})
	t.Logf("output:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
}

// lazyStore is a store that does not keep its promises: SetTag changes
// nothing, and Fetch returns other octets than the size it lists.
type lazyStore struct{ sdk.Store }

func (s lazyStore) SetTag(ctx context.Context, mailbox string, uids []string, tag sdk.Tag) ([]string, error) {
	return nil, nil
}

func (s lazyStore) Fetch(ctx context.Context, mailbox, uid string) (io.ReadCloser, error) {
	rc, err := s.Store.Fetch(ctx, mailbox, uid)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, err
	}
	b = bytes.Replace(b, []byte("e"), []byte("E"), 1)
	return io.NopCloser(bytes.NewReader(b)), nil
}

func TestFullClientServerReportsFailures(t *testing.T) {
	var out bytes.Buffer
	err := FullClientServer(testCtx(t), &out, lazyStore{filled(5)}, Options{Timeout: time.Second})
	t.Logf("output:\n%s", out.String())
	if err == nil {
		t.Fatal("no error although the store drops tag changes")
	}
	for _, line := range []string{
		"PASS badlogin\n",
		"PASS listandquit\n",
		"FAIL pop3failed: retrieved message is tagged \"unread\" after the dropped session, want \"pop3failed\"\n",
		"PASS retrsuccess\n", // the server sends what Fetch gives, and so does the check
		"FAIL delequit: after QUIT the deleted message is tagged \"unread\"",
	} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("output lacks %q", line)
		}
	}
	if !strings.Contains(err.Error(), "2 of 6 scenarios failed: pop3failed, delequit") {
		t.Errorf("err = %v", err)
	}
}

// failingStore fails every List.
type failingStore struct{ sdk.Store }

func (failingStore) List(ctx context.Context, mailbox string, opts sdk.ListOptions) iter.Seq2[sdk.Item, error] {
	return func(yield func(sdk.Item, error) bool) {
		yield(sdk.Item{}, fmt.Errorf("%w: backend down", sdk.ErrUnavailable))
	}
}

func TestFullClientServerStoreDown(t *testing.T) {
	var out bytes.Buffer
	err := FullClientServer(testCtx(t), &out, failingStore{filled(5)}, Options{Timeout: 5 * time.Second})
	if err == nil {
		t.Fatal("no error with a store that cannot list")
	}
	if !strings.Contains(out.String(), "FAIL listandquit: store: list: store unavailable: backend down\n") {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestFullClientServerCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := FullClientServer(ctx, io.Discard, filled(5), Options{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestMimeStore(t *testing.T) {
	ctx := testCtx(t)
	s := filled(5)
	if _, err := s.SetTag(ctx, "INBOX", []string{firstUID(t, s)}, sdk.TagArchive); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := MimeStore(ctx, &out, s, "INBOX", 2, []sdk.Tag{sdk.TagUnread}); err != nil {
		t.Fatal(err)
	}
	t.Logf("output:\n%s", out.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	// mailbox, header, unread, archive, total, blank, header, 2 items, count
	if len(lines) != 10 {
		t.Fatalf("%d lines", len(lines))
	}
	for i, want := range map[int][]string{
		0: {"mailbox", "INBOX"},
		1: {"TAG", "COUNT", "SIZE"},
		2: {"unread", "4"},
		3: {"archive", "1"},
		4: {"total", "5"},
		6: {"UID", "SIZE", "WIRESIZE", "TAG", "SOURCEID", "RECEIVED"},
		9: {"2", "items", "listed"},
	} {
		f := strings.Fields(lines[i])
		if len(f) < len(want) || strings.Join(f[:len(want)], " ") != strings.Join(want, " ") {
			t.Errorf("line %d = %q, want it to start with %v", i, lines[i], want)
		}
	}
	for _, l := range lines[7:9] {
		if f := strings.Fields(l); len(f) != 6 || f[3] != "unread" {
			t.Errorf("item line %q", l)
		}
	}

	// No limit, any tag.
	out.Reset()
	if err := MimeStore(ctx, &out, s, "INBOX", 0, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "5 items listed") {
		t.Errorf("output:\n%s", out.String())
	}

	// The seed's example: an unknown tag is a warning and matches nothing;
	// next to a known tag, the known one still matches.
	for _, tt := range []struct {
		tags []sdk.Tag
		want string
	}{
		{[]sdk.Tag{"abc"}, "0 items listed"},
		{[]sdk.Tag{"abc", sdk.TagUnread}, "2 items listed"},
	} {
		out.Reset()
		if err := MimeStore(ctx, &out, s, "INBOX", 2, tt.tags); err != nil {
			t.Fatal(err)
		}
		warn := `warning: "abc" is not a tag (the tags are unread, archive, staged, dup, pop3failed, conversionerror): it matches nothing`
		if !strings.Contains(out.String(), warn+"\n") || !strings.Contains(out.String(), tt.want) {
			t.Errorf("tags %v: output\n%s\nwant the warning and %q", tt.tags, out.String(), tt.want)
		}
	}

	for _, bad := range []struct {
		mailbox string
		limit   int
		tags    []sdk.Tag
	}{
		{"", 2, nil},
		{"INBOX", -1, nil},
	} {
		if err := MimeStore(ctx, io.Discard, s, bad.mailbox, bad.limit, bad.tags); !errors.Is(err, sdk.ErrInvalid) {
			t.Errorf("MimeStore(%q, %d, %v) = %v, want ErrInvalid", bad.mailbox, bad.limit, bad.tags, err)
		}
	}
	if err := MimeStore(ctx, io.Discard, failingStore{s}, "INBOX", 0, nil); !errors.Is(err, sdk.ErrUnavailable) {
		t.Errorf("failing store: %v", err)
	}
}

func firstUID(t *testing.T, s sdk.Store) string {
	for it, err := range s.List(context.Background(), "INBOX", sdk.ListOptions{Limit: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		return it.UID
	}
	t.Fatal("empty mailbox")
	return ""
}

func TestWireHash(t *testing.T) {
	for in, want := range map[string]string{
		"":            "",
		"a":           "a\r\n",
		"a\nb":        "a\r\nb\r\n",
		"a\r\nb\r\n":  "a\r\nb\r\n",
		"a\rb\r":      "a\r\nb\r\n",
		"\n\n":        "\r\n\r\n",
		"x\r\r\ny\n":  "x\r\n\r\ny\r\n",
		"..dots\r\n.": "..dots\r\n.\r\n",
	} {
		gotSum, gotLen, err := wireHash(strings.NewReader(in))
		wantSum, wantLen, _ := wireHash(strings.NewReader(want))
		ws, _ := sdk.WireSizeOf(strings.NewReader(in))
		if err != nil || gotSum != wantSum || gotLen != int64(len(want)) || wantLen != int64(len(want)) || ws != gotLen {
			t.Errorf("wireHash(%q): len %d, WireSizeOf %d, want %q (%d)", in, gotLen, ws, want, len(want))
		}
	}
}
