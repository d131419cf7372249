package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/izyware/izypop3/sdk"
)

// testBatchUnknownUIDs checks that SetTag and Delete apply the UIDs that
// exist and report the others in notFound.
func testBatchUnknownUIDs(t *testing.T, su *suite) {
	s := su.s
	a := put(t, s, mailboxA, sdk.PutOptions{}, su.message("batch a")).UID
	b := put(t, s, mailboxA, sdk.PutOptions{}, su.message("batch b")).UID
	c := put(t, s, mailboxA, sdk.PutOptions{}, su.message("batch c")).UID
	unknown1, unknown2 := "storetest-unknown-1-"+su.nonce, "storetest-unknown-2-"+su.nonce

	nf, err := s.SetTag(t.Context(), mailboxA, []string{a, unknown1, b, unknown2}, sdk.TagArchive)
	if err != nil {
		t.Fatalf("SetTag with unknown UIDs: %v (want the known ones applied and the others in notFound)", err)
	}
	if !sameSet(nf, []string{unknown1, unknown2}) {
		t.Errorf("SetTag notFound = %v, want %v", nf, []string{unknown1, unknown2})
	}
	for uid, want := range map[string]sdk.Tag{a: sdk.TagArchive, b: sdk.TagArchive, c: sdk.TagUnread} {
		if it := mustFind(t, s, mailboxA, uid); it.Tag != want {
			t.Errorf("after the batch SetTag, item %q has tag %q, want %q", uid, it.Tag, want)
		}
	}

	nf, err = s.Delete(t.Context(), mailboxA, []string{unknown1, a})
	if err != nil {
		t.Fatalf("Delete with an unknown UID: %v", err)
	}
	if !sameSet(nf, []string{unknown1}) {
		t.Errorf("Delete notFound = %v, want [%s]", nf, unknown1)
	}
	items := list(t, s, mailboxA, sdk.ListOptions{})
	if _, ok := findItem(items, a); ok {
		t.Errorf("deleted item %q still listed", a)
	}
	for _, uid := range []string{b, c} {
		if _, ok := findItem(items, uid); !ok {
			t.Errorf("item %q vanished after deleting another one", uid)
		}
	}

	// A deleted UID is unknown from now on.
	if nf, err := s.SetTag(t.Context(), mailboxA, []string{a}, sdk.TagUnread); err != nil || !sameSet(nf, []string{a}) {
		t.Errorf("SetTag of a deleted UID: notFound %v, err %v; want notFound [%s]", nf, err, a)
	}
	if nf, err := s.Delete(t.Context(), mailboxA, []string{a}); err != nil || !sameSet(nf, []string{a}) {
		t.Errorf("Delete of a deleted UID: notFound %v, err %v; want notFound [%s]", nf, err, a)
	}

	// Empty batches are no-ops.
	before := takeSnapshot(t, s, mailboxA)
	if nf, err := s.SetTag(t.Context(), mailboxA, nil, sdk.TagArchive); err != nil || len(nf) != 0 {
		t.Errorf("SetTag of no UIDs: notFound %v, err %v", nf, err)
	}
	if nf, err := s.Delete(t.Context(), mailboxA, nil); err != nil || len(nf) != 0 {
		t.Errorf("Delete of no UIDs: notFound %v, err %v", nf, err)
	}
	before.check(t, takeSnapshot(t, s, mailboxA), "empty SetTag/Delete batches")
}

func testFetchNotFound(t *testing.T, su *suite) {
	s := su.s
	_, err := s.Fetch(t.Context(), mailboxA, "storetest-no-such-uid-"+su.nonce)
	wantErr(t, "Fetch of an unknown UID", err, sdk.ErrNotFound)

	uid := put(t, s, mailboxA, sdk.PutOptions{}, su.message("fetch deleted")).UID
	if _, err := s.Delete(t.Context(), mailboxA, []string{uid}); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	_, err = s.Fetch(t.Context(), mailboxA, uid)
	wantErr(t, "Fetch of a deleted UID", err, sdk.ErrNotFound)
}

// testSourceID checks that a Put whose SourceID is already present stores
// nothing, drains the body and names the existing item.
func testSourceID(t *testing.T, su *suite) {
	s := su.s
	source := "pop3://user@pop.example.invalid:110/" + su.nonce + "-1"
	first := su.message("source first")
	orig := put(t, s, mailboxA, sdk.PutOptions{SourceID: source}, first)
	if orig.Existing {
		t.Fatalf("first Put with SourceID %q reports Existing", source)
	}
	before := takeSnapshot(t, s, mailboxA)

	body := &countingReader{r: bytes.NewReader(su.message("source again, other octets"))}
	res, err := s.Put(t.Context(), mailboxA, sdk.PutOptions{SourceID: source}, body)
	if err != nil {
		t.Fatalf("Put with a present SourceID: %v", err)
	}
	if !res.Existing || res.UID != orig.UID {
		t.Errorf("Put with a present SourceID = %+v, want Existing and UID %q", res, orig.UID)
	}
	if res.Size != orig.Size || res.SHA256 != orig.SHA256 {
		t.Errorf("Put with a present SourceID reports Size %d SHA256 %s, want the existing item's %d %s",
			res.Size, res.SHA256, orig.Size, orig.SHA256)
	}
	if !body.eof {
		t.Errorf("Put with a present SourceID did not drain the body (read %d octets, no EOF)", body.n)
	}
	before.check(t, takeSnapshot(t, s, mailboxA), "Put with a present SourceID")
	if got := Fetch(t, s, mailboxA, orig.UID); !bytes.Equal(got, first) {
		t.Errorf("Put with a present SourceID replaced the octets of the existing item")
	}

	// The SourceID belongs to the item whatever its tag.
	if _, err := s.SetTag(t.Context(), mailboxA, []string{orig.UID}, sdk.TagArchive); err != nil {
		t.Fatalf("SetTag: %v", err)
	}
	res = put(t, s, mailboxA, sdk.PutOptions{SourceID: source, Tag: sdk.TagStaged}, su.message("source after tag"))
	if !res.Existing || res.UID != orig.UID || res.Tag != sdk.TagArchive {
		t.Errorf("Put with the SourceID of an archived item = %+v, want Existing, UID %q, Tag archive", res, orig.UID)
	}

	// SourceIDs are per mailbox.
	other := put(t, s, mailboxB, sdk.PutOptions{SourceID: source}, su.message("source other mailbox"))
	if other.Existing {
		t.Errorf("Put in %q reports Existing for a SourceID present only in %q", mailboxB, mailboxA)
	}

	// Once the item is deleted, the SourceID is free again.
	if _, err := s.Delete(t.Context(), mailboxA, []string{orig.UID}); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	res = put(t, s, mailboxA, sdk.PutOptions{SourceID: source}, su.message("source after delete"))
	if res.Existing || res.UID == orig.UID {
		t.Errorf("Put with the SourceID of a deleted item = %+v, want a new item", res)
	}
	if it := mustFind(t, s, mailboxA, res.UID); it.SourceID != source {
		t.Errorf("Item.SourceID = %q, want %q", it.SourceID, source)
	}
}

// sourceIDWriters is how many goroutines race to Put one SourceID.
const sourceIDWriters = 8

// testSourceIDConcurrent checks that concurrent Puts of one SourceID store
// exactly one item.
func testSourceIDConcurrent(t *testing.T, su *suite) {
	s := su.s
	source := "pop3://user@pop.example.invalid:110/" + su.nonce + "-race"
	results := make([]sdk.PutResult, sourceIDWriters)
	errs := make([]error, sourceIDWriters)
	bodies := make([][]byte, sourceIDWriters)
	for i := range bodies {
		bodies[i] = su.message(fmt.Sprintf("source race %d", i))
	}
	var wg sync.WaitGroup
	for i := range sourceIDWriters {
		wg.Go(func() {
			results[i], errs[i] = s.Put(t.Context(), mailboxA, sdk.PutOptions{SourceID: source}, bytes.NewReader(bodies[i]))
		})
	}
	wg.Wait()
	stored := 0
	for i, res := range results {
		if errs[i] != nil {
			t.Fatalf("concurrent Put %d: %v", i, errs[i])
		}
		if !res.Existing {
			stored++
		}
		if res.UID != results[0].UID {
			t.Errorf("concurrent Puts of one SourceID returned UIDs %q and %q", results[0].UID, res.UID)
		}
	}
	if stored != 1 {
		t.Errorf("%d concurrent Puts of one SourceID stored %d items, want 1", sourceIDWriters, stored)
	}
	n := 0
	for _, it := range list(t, s, mailboxA, sdk.ListOptions{}) {
		if it.SourceID == source {
			n++
		}
	}
	if n != 1 {
		t.Errorf("List shows %d items with the raced SourceID, want 1", n)
	}
}

// testDuplicates checks that content already present is stored with TagDup
// and DuplicateOf set.
func testDuplicates(t *testing.T, su *suite) {
	s := su.s
	body := su.message("duplicate")
	orig := put(t, s, mailboxA, sdk.PutOptions{SourceID: "pop3://u@h.invalid:110/" + su.nonce + "-a"}, body)
	if orig.DuplicateOf != "" || orig.Tag != sdk.TagUnread {
		t.Fatalf("first Put = %+v, want a new unread item", orig)
	}
	dup := put(t, s, mailboxA, sdk.PutOptions{SourceID: "pop3://u@h.invalid:110/" + su.nonce + "-b"}, body)
	if dup.Existing || dup.UID == orig.UID {
		t.Errorf("same octets under another SourceID = %+v, want a new item", dup)
	}
	if dup.Tag != sdk.TagDup || dup.DuplicateOf != orig.UID {
		t.Errorf("same octets under another SourceID: Tag %q DuplicateOf %q, want dup and %q", dup.Tag, dup.DuplicateOf, orig.UID)
	}
	if dup.Size != orig.Size || dup.SHA256 != orig.SHA256 {
		t.Errorf("duplicate's Size/SHA256 %d %s, want %d %s", dup.Size, dup.SHA256, orig.Size, orig.SHA256)
	}
	if it := mustFind(t, s, mailboxA, dup.UID); it.Tag != sdk.TagDup {
		t.Errorf("duplicate item listed with tag %q, want dup", it.Tag)
	}

	// The duplicate check wins over the tag asked for, and needs no SourceID.
	dup2 := put(t, s, mailboxA, sdk.PutOptions{Tag: sdk.TagStaged}, body)
	if dup2.Tag != sdk.TagDup || (dup2.DuplicateOf != orig.UID && dup2.DuplicateOf != dup.UID) {
		t.Errorf("staged Put of present octets: Tag %q DuplicateOf %q, want dup and %q", dup2.Tag, dup2.DuplicateOf, orig.UID)
	}
	if got := Fetch(t, s, mailboxA, dup2.UID); !bytes.Equal(got, body) {
		t.Errorf("the duplicate's octets differ from the original's")
	}

	// Duplicates are per mailbox, and only for equal octets.
	if res := put(t, s, mailboxB, sdk.PutOptions{}, body); res.Tag != sdk.TagUnread || res.DuplicateOf != "" {
		t.Errorf("Put in another mailbox = %+v, want a new unread item", res)
	}
	almost := append(bytes.Clone(body), ' ')
	if res := put(t, s, mailboxA, sdk.PutOptions{}, almost); res.Tag != sdk.TagUnread || res.DuplicateOf != "" {
		t.Errorf("Put of octets differing by one = %+v, want a new unread item", res)
	}
}

// testMailboxIsolation checks that mailboxes do not see each other's items.
func testMailboxIsolation(t *testing.T, su *suite) {
	s := su.s
	beforeB := takeSnapshot(t, s, mailboxB)
	res := put(t, s, mailboxA, sdk.PutOptions{}, su.message("isolation"))
	afterB := takeSnapshot(t, s, mailboxB)
	beforeB.check(t, afterB, "a Put in another mailbox")
	if _, ok := findItem(afterB.items, res.UID); ok {
		// Some stores number UIDs per mailbox; then B has its own item
		// with this UID and the checks below cannot be made.
		t.Logf("mailbox %q has its own item with UID %q", mailboxB, res.UID)
	} else {
		_, err := s.Fetch(t.Context(), mailboxB, res.UID)
		wantErr(t, "Fetch of another mailbox's UID", err, sdk.ErrNotFound)
		if nf, err := s.SetTag(t.Context(), mailboxB, []string{res.UID}, sdk.TagArchive); err != nil || !sameSet(nf, []string{res.UID}) {
			t.Errorf("SetTag of another mailbox's UID: notFound %v, err %v", nf, err)
		}
		if nf, err := s.Delete(t.Context(), mailboxB, []string{res.UID}); err != nil || !sameSet(nf, []string{res.UID}) {
			t.Errorf("Delete of another mailbox's UID: notFound %v, err %v", nf, err)
		}
	}
	if it := mustFind(t, s, mailboxA, res.UID); it.Tag != sdk.TagUnread {
		t.Errorf("the item changed through another mailbox: tag %q", it.Tag)
	}

	// The longest valid name (255 octets) works; 256 is refused.
	long := "storetest-" + strings.Repeat("x", maxMailboxLen-len("storetest-"))
	body := su.message("long mailbox name")
	res = put(t, s, long, sdk.PutOptions{}, body)
	checkItem(t, mustFind(t, s, long, res.UID), body)
	if got := Fetch(t, s, long, res.UID); !bytes.Equal(got, body) {
		t.Errorf("Fetch from a 255-octet mailbox name returned other octets")
	}
}

// maxMailboxLen is the longest mailbox name (sdk.Store: 1..255 octets).
const maxMailboxLen = 255

// invalidMailboxes are names every store must refuse with ErrInvalid.
var invalidMailboxes = []string{"", ".", "..", "a/b", "a\\b", "a\x00b", "/", "../x", "a\nb", strings.Repeat("m", maxMailboxLen+1)}

func testInvalidMailbox(t *testing.T, su *suite) {
	s := su.s
	ctx := t.Context()
	for _, m := range invalidMailboxes {
		name := fmt.Sprintf("%.20q", m)
		_, err := tryList(ctx, s, m, sdk.ListOptions{})
		wantErr(t, "List "+name, err, sdk.ErrInvalid)
		_, err = s.Stat(ctx, m)
		wantErr(t, "Stat "+name, err, sdk.ErrInvalid)
		_, err = s.Fetch(ctx, m, "x")
		wantErr(t, "Fetch "+name, err, sdk.ErrInvalid)
		_, err = s.SetTag(ctx, m, []string{"x"}, sdk.TagArchive)
		wantErr(t, "SetTag "+name, err, sdk.ErrInvalid)
		_, err = s.Delete(ctx, m, []string{"x"})
		wantErr(t, "Delete "+name, err, sdk.ErrInvalid)
		_, err = s.Put(ctx, m, sdk.PutOptions{}, bytes.NewReader(su.message("invalid mailbox")))
		wantErr(t, "Put "+name, err, sdk.ErrInvalid)
		if tf, ok := s.(sdk.TopFetcher); ok {
			if _, err := tf.FetchTop(ctx, m, "x", 1); !errors.Is(err, sdk.ErrUnsupported) {
				wantErr(t, "FetchTop "+name, err, sdk.ErrInvalid)
			}
		}
	}
}
