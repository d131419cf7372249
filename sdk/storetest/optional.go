package storetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/izyware/izypop3/sdk"
)

// testConfigurer checks strict decoding: an unknown key is an error
// wrapping ErrInvalid that names the key.
func testConfigurer(t *testing.T, su *suite) {
	c, ok := su.s.(sdk.Configurer)
	if !ok {
		t.Skip("the store does not implement sdk.Configurer")
	}
	const key = "storetest-unknown-key"
	err := c.Configure(t.Context(), map[string]string{key: "1"})
	wantErr(t, "Configure with an unknown key", err, sdk.ErrInvalid)
	if err != nil && !strings.Contains(err.Error(), key) {
		t.Errorf("Configure with an unknown key: the error %q does not name the key %q", err, key)
	}
}

// testTopFetcher checks that FetchTop returns exactly the header, the empty
// line and the first lines of the body: a prefix of Fetch.
func testTopFetcher(t *testing.T, su *suite) {
	tf, ok := su.s.(sdk.TopFetcher)
	if !ok {
		t.Skip("the store does not implement sdk.TopFetcher")
	}
	s := su.s
	for _, eol := range []string{"\r\n", "\n"} {
		header := "Subject: top" + eol + "X-Storetest: " + su.nonce + eol
		lines := []string{"first" + eol, ".dot" + eol, eol, "after empty" + eol, "last" + eol}
		body := []byte(header + eol + strings.Join(lines, ""))
		uid := put(t, s, mailboxA, sdk.PutOptions{}, body).UID
		for _, n := range []int{0, 1, 2, 3, 5, 100} {
			want := header + eol + strings.Join(lines[:min(n, len(lines))], "")
			rc, err := tf.FetchTop(t.Context(), mailboxA, uid, n)
			if err != nil {
				t.Fatalf("FetchTop(%d): %v", n, err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatalf("FetchTop(%d): reading: %v", n, err)
			}
			if !bytes.Equal(got, []byte(want)) {
				t.Errorf("FetchTop(%d) with %q line ends = %q, want %q", n, eol, got, want)
			}
		}
	}
	// Lines longer than any read buffer, with the line end falling just
	// past 4 KiB boundaries.
	long := func(n int) string { return strings.Repeat("y", n-2) + "\r\n" }
	header := "Subject: long lines\r\nX-Long: " + long(4097-len("X-Long: "))
	lines := []string{long(4097), long(8193), "short\r\n", long(70000)}
	uid := put(t, s, mailboxA, sdk.PutOptions{}, []byte(header+"\r\n"+strings.Join(lines, ""))).UID
	for _, n := range []int{0, 1, 2, 3, 4} {
		want := header + "\r\n" + strings.Join(lines[:n], "")
		rc, err := tf.FetchTop(t.Context(), mailboxA, uid, n)
		if err != nil {
			t.Fatalf("FetchTop(%d): %v", n, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(got) != want {
			t.Errorf("FetchTop(%d) with long lines: %d octets (%v), want %d", n, len(got), err, len(want))
		}
	}

	_, err := tf.FetchTop(t.Context(), mailboxA, "storetest-no-such-uid-"+su.nonce, 1)
	wantErr(t, "FetchTop of an unknown UID", err, sdk.ErrNotFound)
}

// testLocker checks that a lock is exclusive per mailbox and can be taken
// again after Unlock.
func testLocker(t *testing.T, su *suite) {
	l, ok := su.s.(sdk.Locker)
	if !ok {
		t.Skip("the store does not implement sdk.Locker")
	}
	ctx := t.Context()
	tok, err := l.Lock(ctx, mailboxA)
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	_, err = l.Lock(ctx, mailboxA)
	wantErr(t, "second Lock of a locked mailbox", err, sdk.ErrInUse)

	tokB, err := l.Lock(ctx, mailboxB)
	if err != nil {
		t.Fatalf("Lock of another mailbox while the first is locked: %v", err)
	}
	if err := l.Unlock(ctx, mailboxA, tok); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	tok2, err := l.Lock(ctx, mailboxA)
	if err != nil {
		t.Fatalf("Lock after Unlock: %v", err)
	}
	if err := l.Unlock(ctx, mailboxA, tok2); err != nil {
		t.Errorf("Unlock: %v", err)
	}
	if err := l.Unlock(ctx, mailboxB, tokB); err != nil {
		t.Errorf("Unlock of the other mailbox: %v", err)
	}
	_, err = l.Lock(ctx, "a/b")
	wantErr(t, "Lock of an invalid mailbox", err, sdk.ErrInvalid)
}

func testChecker(t *testing.T, su *suite) {
	c, ok := su.s.(sdk.Checker)
	if !ok {
		t.Skip("the store does not implement sdk.Checker")
	}
	err := c.Check(t.Context())
	if err != nil {
		t.Errorf("Check of a healthy store: %v", err)
	}
}

// testSyncer: Puts with DeferSync store whole items that a SourceID finds
// again, before and after Sync; Sync checks the mailbox name and the
// context, and a mailbox never written to syncs fine.
func testSyncer(t *testing.T, su *suite) {
	sy, ok := su.s.(sdk.Syncer)
	if !ok {
		t.Skip("the store does not implement sdk.Syncer")
	}
	ctx := t.Context()
	mb := mailboxA
	bodies := [][]byte{[]byte("Subject: a\r\n\r\none\r\n"), []byte("Subject: b\r\n\r\ntwo\r\n"), {}}
	uids := map[string][]byte{}
	for i, b := range bodies {
		res, err := su.s.Put(ctx, mb, sdk.PutOptions{Tag: sdk.TagStaged, SourceID: fmt.Sprintf("sync-%s-%d", su.nonce, i), DeferSync: true}, bytes.NewReader(b))
		if err != nil {
			t.Fatalf("deferred Put %d: %v", i, err)
		}
		if res.Size != int64(len(b)) {
			t.Errorf("deferred Put %d: Size %d, want %d", i, res.Size, len(b))
		}
		uids[res.UID] = b
	}
	// Before the barrier the items are there and a SourceID finds them.
	res, err := su.s.Put(ctx, mb, sdk.PutOptions{SourceID: "sync-" + su.nonce + "-1", DeferSync: true}, bytes.NewReader(bodies[1]))
	if err != nil || !res.Existing {
		t.Errorf("Put of a deferred item's SourceID: %+v, %v; want Existing", res, err)
	}
	if err := sy.Sync(ctx, mb); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	for uid, want := range uids {
		rc, err := su.s.Fetch(ctx, mb, uid)
		if err != nil {
			t.Fatalf("Fetch %s after Sync: %v", uid, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("Fetch %s after Sync: %q, %v; want %q", uid, got, err, want)
		}
	}
	if err := sy.Sync(ctx, "never-written-"+su.nonce); err != nil {
		t.Errorf("Sync of a mailbox never written to: %v", err)
	}
	wantErr(t, "Sync of an invalid mailbox", sy.Sync(ctx, "a/b"), sdk.ErrInvalid)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := sy.Sync(cctx, mb); err == nil {
		t.Error("Sync with a canceled context succeeded")
	}
}
