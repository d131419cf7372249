package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/pluginhost"
)

// The PutBatch checks. The sdk serves PutBatch for every store: with the
// store's own sdk.BatchPutter when it has one, else by calling its Put item
// after item on one stream, with the stream's context. A batch must store
// each item exactly as Put would, and one item's failure (a body that
// breaks, an invalid tag, a SourceID already held) must fail that item only:
// the stream goes on and the next item is stored whole.

func testPutBatch(t *testing.T, su *suite) {
	bp, ok := su.s.(pluginhost.BatchPutter)
	if !ok {
		t.Skipf("the store (%T) does not implement pluginhost.BatchPutter: only a store seen through a plugin "+
			"connection does (RunGRPC's store, izypop3's storehost), or one with its own sdk.BatchPutter; "+
			"RunGRPC checks the PutBatch path", su.s)
	}
	s := su.s
	ctx, cancel := context.WithTimeout(t.Context(), batchTimeout)
	defer cancel()
	before := takeSnapshot(t, s, mailboxB)
	had := len(list(t, s, mailboxA, sdk.ListOptions{})) // a store may hold content of its own
	bw, err := bp.PutBatch(ctx, mailboxA)
	if err != nil {
		t.Fatalf("PutBatch: %v", err)
	}
	defer bw.Close()

	type want struct {
		body   []byte
		source string
		tag    sdk.Tag
		uid    string
	}
	var stored []want
	putOK := func(what string, tag sdk.Tag, body []byte) want {
		t.Helper()
		w := want{body: body, source: fmt.Sprintf("pop3://u@h.invalid:110/%s-batch-%d", su.nonce, su.seq.Add(1)), tag: tag}
		res, err := bw.Put(sdk.PutOptions{Tag: tag, SourceID: w.source}, bytes.NewReader(body))
		if err != nil {
			t.Fatalf("batch Put of %s (%d octets): %v", what, len(body), err)
		}
		if res.Existing || res.Size != int64(len(body)) || res.SHA256 != hexSHA(body) || !sdk.ValidUID(res.UID) {
			t.Fatalf("batch Put of %s (%d octets): result %+v, want a new item of %d octets sha256 %s",
				what, len(body), res, len(body), hexSHA(body))
		}
		if tag == "" {
			w.tag = sdk.TagUnread
		}
		if res.Tag != w.tag {
			t.Errorf("batch Put of %s: tag %q, want %q", what, res.Tag, w.tag)
		}
		w.uid = res.UID
		stored = append(stored, w)
		return w
	}

	putOK("an empty message", sdk.TagStaged, nil)
	putOK("a one-line message", "", su.message("batch one"))
	putOK("a large message", sdk.TagStaged, bytes.Repeat(su.message("batch large"), batchLarge/512))
	putOK("every octet value", sdk.TagUnread, []byte(allOctets()))

	// A body that breaks part way fails that item only, whatever it had
	// sent: nothing of it is stored and its SourceID stays free.
	failSource := "pop3://u@h.invalid:110/" + su.nonce + "-batch-fail"
	for _, n := range []int64{0, 100, 3*chunkSize + 17} {
		body := &failingReader{r: newGen(su.seed(), n), err: errInjected}
		if res, err := bw.Put(sdk.PutOptions{Tag: sdk.TagStaged, SourceID: failSource}, body); err == nil {
			t.Errorf("batch Put whose body fails after %d octets succeeded: %+v", n, res)
		} else if errors.Is(err, sdk.ErrUnavailable) {
			t.Errorf("batch Put whose body fails after %d octets: %v: the error says the stream broke, not the item", n, err)
		}
		putOK(fmt.Sprintf("a message after one that failed after %d octets", n), sdk.TagStaged, su.message("after fail"))
	}
	// An invalid tag fails its item only.
	if _, err := bw.Put(sdk.PutOptions{Tag: "no-such-tag"}, bytes.NewReader(su.message("bad tag"))); !errors.Is(err, sdk.ErrInvalid) {
		t.Errorf("batch Put with an invalid tag: %v, want an error wrapping sdk.ErrInvalid", err)
	}
	// A SourceID the mailbox holds answers Existing, as Put does.
	first := stored[1]
	res, err := bw.Put(sdk.PutOptions{SourceID: first.source}, bytes.NewReader(su.message("again")))
	if err != nil || !res.Existing || res.UID != first.uid {
		t.Errorf("batch Put of a held SourceID: %+v, %v; want Existing with UID %s", res, err, first.uid)
	}
	putOK("the last message", "", su.message("batch last"))
	if err := bw.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := bw.Put(sdk.PutOptions{}, bytes.NewReader(su.message("after close"))); err == nil {
		t.Errorf("batch Put after Close succeeded")
	}

	// Each item is what Put would have stored.
	items := list(t, s, mailboxA, sdk.ListOptions{})
	for _, w := range stored {
		it, ok := findItem(items, w.uid)
		if !ok {
			t.Errorf("item %s of the batch is not listed", w.uid)
			continue
		}
		checkItem(t, it, w.body)
		if it.Tag != w.tag || it.SourceID != w.source {
			t.Errorf("item %s: tag %q SourceID %q, want %q %q", w.uid, it.Tag, it.SourceID, w.tag, w.source)
		}
		if got := Fetch(t, s, mailboxA, w.uid); !bytes.Equal(got, w.body) {
			t.Errorf("item %s: Fetch gives %d octets, not the %d put", w.uid, len(got), len(w.body))
		}
	}
	if len(items) != had+len(stored) {
		t.Errorf("the mailbox holds %d items after the batch, want the %d it held and the %d stored: a failed item left something",
			len(items), had, len(stored))
	}
	before.check(t, takeSnapshot(t, s, mailboxB), "a PutBatch into another mailbox")
	if res := put(t, s, mailboxA, sdk.PutOptions{SourceID: failSource}, su.message("after failed batch puts")); res.Existing {
		t.Errorf("Put after failed batch Puts with the same SourceID reports Existing")
	}

	// With a Syncer, a DeferSync item of a batch is there after Sync.
	if sy, ok := s.(sdk.Syncer); ok {
		bw, err := bp.PutBatch(ctx, mailboxA)
		if err != nil {
			t.Fatalf("PutBatch: %v", err)
		}
		defer bw.Close()
		body := su.message("batch deferred")
		res, err := bw.Put(sdk.PutOptions{Tag: sdk.TagStaged, DeferSync: true}, bytes.NewReader(body))
		if err != nil {
			t.Fatalf("batch Put with DeferSync: %v", err)
		}
		if err := sy.Sync(ctx, mailboxA); err != nil {
			t.Fatalf("Sync after a batch Put: %v", err)
		}
		checkItem(t, mustFind(t, s, mailboxA, res.UID), body)
	}
}

var _ io.Reader = (*failingReader)(nil)
