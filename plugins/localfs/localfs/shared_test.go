package localfs_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/storetest"
)

// Two stores on one directory (a server and a fetcher in two processes)
// see each other's changes: Puts, tag changes and deletes.
func TestTwoInstancesShareADirectory(t *testing.T) {
	for _, layout := range []string{"eml", "maildir"} {
		t.Run(layout, func(t *testing.T) {
			root := t.TempDir()
			a, b := open(t, root, layout), open(t, root, layout)
			storetest.List(t, a, "m") // a has a (possibly stale) view from now on
			storetest.List(t, b, "m")
			r1 := mustPut(t, a, "m", sdk.PutOptions{SourceID: "s1"}, msgCRLF)
			r2 := mustPut(t, a, "m", sdk.PutOptions{SourceID: "s2"}, msgLF)
			if items := storetest.List(t, b, "m"); len(items) != 2 {
				t.Fatalf("b sees %+v", items)
			}
			if _, err := b.SetTag(t.Context(), "m", []string{r1.UID}, sdk.TagArchive); err != nil {
				t.Fatal(err)
			}
			// a's idea of where r1 lives is stale: Fetch and SetTag find it.
			if got := string(storetest.Fetch(t, a, "m", r1.UID)); got != msgCRLF {
				t.Fatalf("a Fetch = %q", got)
			}
			if nf, err := a.SetTag(t.Context(), "m", []string{r1.UID}, sdk.TagDup); err != nil || len(nf) != 0 {
				t.Fatalf("a SetTag: %v %v", nf, err)
			}
			if nf, err := b.Delete(t.Context(), "m", []string{r2.UID}); err != nil || len(nf) != 0 {
				t.Fatalf("b Delete: %v %v", nf, err)
			}
			items := storetest.List(t, a, "m")
			if len(items) != 1 || items[0].UID != r1.UID || items[0].Tag != sdk.TagDup {
				t.Fatalf("a sees %+v", items)
			}
			if _, err := a.Fetch(t.Context(), "m", r2.UID); err == nil {
				t.Fatal("a fetched a message b deleted")
			}
			// b's Put of a SourceID a stored is recognised.
			if res := mustPut(t, b, "m", sdk.PutOptions{SourceID: "s1"}, "x"); !res.Existing || res.UID != r1.UID {
				t.Fatalf("b re-Put: %+v", res)
			}
			// Even right after a's Put, with b's view otherwise current.
			storetest.List(t, a, "m")
			storetest.List(t, b, "m")
			r3 := mustPut(t, a, "m", sdk.PutOptions{SourceID: "s3"}, "three\r\n")
			if res := mustPut(t, b, "m", sdk.PutOptions{SourceID: "s3"}, "three\r\n"); !res.Existing || res.UID != r3.UID {
				t.Fatalf("b Put of a SourceID a just stored: %+v", res)
			}
			r4 := mustPut(t, b, "m", sdk.PutOptions{SourceID: "s4"}, "four\r\n")
			if res := mustPut(t, a, "m", sdk.PutOptions{SourceID: "s5"}, "four\r\n"); res.DuplicateOf != r4.UID {
				t.Fatalf("a Put of content b just stored: %+v", res)
			}
		})
	}
}

// Messages are treated as immutable once settled: an in-place edit that
// leaves the folder untouched is not looked for by List, but Fetch notices
// it and the next List reports the new size.
func TestInPlaceEditNoticedByFetch(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, "m", "a.eml")
	writeFile(t, p, msgCRLF)
	past := time.Now().Add(-time.Hour)
	os.Chtimes(p, past, past)
	os.Chtimes(filepath.Dir(p), past, past)
	s := open(t, root, "eml")
	if items := storetest.List(t, s, "m"); len(items) != 1 || items[0].Size != int64(len(msgCRLF)) {
		t.Fatalf("items %+v", items)
	}
	edited := msgCRLF + "more\r\n"
	if err := os.WriteFile(p, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(p, past.Add(time.Minute), past.Add(time.Minute))
	os.Chtimes(filepath.Dir(p), past, past)
	if got := string(storetest.Fetch(t, s, "m", "a")); got != edited {
		t.Fatalf("Fetch = %q", got)
	}
	items := storetest.List(t, s, "m")
	if len(items) != 1 || items[0].Size != int64(len(edited)) || items[0].WireSize != int64(len(edited)) {
		t.Fatalf("after the edit: %+v", items)
	}
}

// A SourceID whose message another process deleted is not "already there":
// the fetcher must not be told a message is stored when it is gone.
func TestExistingAfterDeleteElsewhere(t *testing.T) {
	root := t.TempDir()
	a, b := open(t, root, "eml"), open(t, root, "eml")
	r := mustPut(t, a, "m", sdk.PutOptions{SourceID: "s"}, msgCRLF)
	storetest.List(t, b, "m")
	if nf, err := b.Delete(t.Context(), "m", []string{r.UID}); err != nil || len(nf) != 0 {
		t.Fatalf("Delete: %v %v", nf, err)
	}
	res := mustPut(t, a, "m", sdk.PutOptions{SourceID: "s"}, msgCRLF)
	if res.Existing {
		t.Fatalf("Put after the item was deleted elsewhere: %+v", res)
	}
	if got := string(storetest.Fetch(t, a, "m", res.UID)); got != msgCRLF {
		t.Fatalf("Fetch = %q", got)
	}
}
