package storetest

import (
	"bytes"
	"slices"
	"strconv"
	"testing"

	"github.com/izyware/izypop3/sdk"
)

// testUIDs checks UID syntax, uniqueness, stability across List calls and
// tag changes, and that a deleted UID is not handed out again.
func testUIDs(t *testing.T, su *suite) {
	s := su.s
	var mine []string
	for i := 0; i < 5; i++ {
		res := put(t, s, mailboxA, sdk.PutOptions{}, su.message("uid"))
		if slices.Contains(mine, res.UID) {
			t.Fatalf("Put returned UID %q twice", res.UID)
		}
		mine = append(mine, res.UID)
	}

	first := list(t, s, mailboxA, sdk.ListOptions{})
	seen := map[string]bool{}
	for _, it := range first {
		if !sdk.ValidUID(it.UID) {
			t.Errorf("List yields invalid UID %q", it.UID)
		}
		if seen[it.UID] {
			t.Errorf("List yields UID %q twice", it.UID)
		}
		seen[it.UID] = true
	}
	for _, u := range mine {
		if !seen[u] {
			t.Errorf("UID %q returned by Put is missing from List", u)
		}
	}
	if second := list(t, s, mailboxA, sdk.ListOptions{}); !slices.Equal(uids(first), uids(second)) {
		t.Errorf("two List calls without changes differ:\n%v\n%v", uids(first), uids(second))
	}

	if nf, err := s.SetTag(t.Context(), mailboxA, mine[1:3], sdk.TagArchive); err != nil || len(nf) != 0 {
		t.Fatalf("SetTag: notFound %v, err %v", nf, err)
	}
	after := list(t, s, mailboxA, sdk.ListOptions{})
	if !sameSet(uids(first), uids(after)) {
		t.Errorf("SetTag changed the set of UIDs:\nbefore %v\nafter  %v", uids(first), uids(after))
	}

	if nf, err := s.Delete(t.Context(), mailboxA, mine[:1]); err != nil || len(nf) != 0 {
		t.Fatalf("Delete: notFound %v, err %v", nf, err)
	}
	for i := 0; i < 3; i++ {
		res := put(t, s, mailboxA, sdk.PutOptions{}, su.message("uid after delete"))
		if seen[res.UID] {
			t.Errorf("Put after Delete reused UID %q", res.UID)
		}
		seen[res.UID] = true
	}
}

// testTags moves one item through all six tags and back.
func testTags(t *testing.T, su *suite) {
	s := su.s
	body := su.message("tags")
	res := put(t, s, mailboxA, sdk.PutOptions{}, body)
	order := []sdk.Tag{sdk.TagArchive, sdk.TagStaged, sdk.TagDup, sdk.TagPOP3Failed, sdk.TagConversionError, sdk.TagUnread, sdk.TagUnread}
	for _, tag := range order {
		nf, err := s.SetTag(t.Context(), mailboxA, []string{res.UID}, tag)
		if err != nil || len(nf) != 0 {
			t.Fatalf("SetTag(%q): notFound %v, err %v", tag, nf, err)
		}
		it := mustFind(t, s, mailboxA, res.UID)
		if it.Tag != tag {
			t.Errorf("after SetTag(%q): Item.Tag = %q", tag, it.Tag)
		}
		checkItem(t, it, body)
		tagged := list(t, s, mailboxA, sdk.ListOptions{Tags: []sdk.Tag{tag}})
		if _, ok := findItem(tagged, res.UID); !ok {
			t.Errorf("after SetTag(%q): List{Tags: [%s]} misses the item", tag, tag)
		}
		st, err := s.Stat(t.Context(), mailboxA)
		if err != nil {
			t.Fatalf("Stat: %v", err)
		}
		if st[tag].Count < 1 || st[tag].Size < int64(len(body)) {
			t.Errorf("after SetTag(%q): Stat[%s] = %+v does not count the item", tag, tag, st[tag])
		}
	}
	if got := Fetch(t, s, mailboxA, res.UID); !bytes.Equal(got, body) {
		t.Errorf("tag changes altered the message: got %q, want %q", got, body)
	}
}

// testListFilterAndLimit checks List's tag filter, Limit, stable order and
// that a caller may stop the sequence early.
func testListFilterAndLimit(t *testing.T, su *suite) {
	s := su.s
	byTag := map[sdk.Tag]string{}
	for _, tag := range sdk.Tags {
		byTag[tag] = put(t, s, mailboxA, sdk.PutOptions{Tag: tag}, su.message("filter "+string(tag))).UID
	}
	for _, tag := range sdk.Tags {
		got := list(t, s, mailboxA, sdk.ListOptions{Tags: []sdk.Tag{tag}})
		for _, it := range got {
			if it.Tag != tag {
				t.Errorf("List{Tags: [%s]} yields item %q with tag %q", tag, it.UID, it.Tag)
			}
		}
		if _, ok := findItem(got, byTag[tag]); !ok {
			t.Errorf("List{Tags: [%s]} misses item %q", tag, byTag[tag])
		}
	}
	two := []sdk.Tag{sdk.TagUnread, sdk.TagArchive}
	got := list(t, s, mailboxA, sdk.ListOptions{Tags: two})
	for _, it := range got {
		if !slices.Contains(two, it.Tag) {
			t.Errorf("List{Tags: %v} yields item %q with tag %q", two, it.UID, it.Tag)
		}
	}
	for _, tag := range sdk.Tags {
		_, ok := findItem(got, byTag[tag])
		if want := slices.Contains(two, tag); ok != want {
			t.Errorf("List{Tags: %v}: item tagged %s present = %v, want %v", two, tag, ok, want)
		}
	}

	all := list(t, s, mailboxA, sdk.ListOptions{})
	for _, tag := range sdk.Tags {
		if _, ok := findItem(all, byTag[tag]); !ok {
			t.Errorf("List{} misses the item tagged %s", tag)
		}
	}
	if again := list(t, s, mailboxA, sdk.ListOptions{}); !slices.Equal(uids(all), uids(again)) {
		t.Errorf("List order is not stable:\n%v\n%v", uids(all), uids(again))
	}
	for _, limit := range []int{1, 2, 5, len(all), len(all) + 10} {
		got := list(t, s, mailboxA, sdk.ListOptions{Limit: limit})
		want := uids(all)[:min(limit, len(all))]
		if !slices.Equal(uids(got), want) {
			t.Errorf("List{Limit: %d} = %v, want the first %d of List{}: %v", limit, uids(got), len(want), want)
		}
	}
	archived := list(t, s, mailboxA, sdk.ListOptions{Tags: []sdk.Tag{sdk.TagArchive}})
	got = list(t, s, mailboxA, sdk.ListOptions{Tags: []sdk.Tag{sdk.TagArchive}, Limit: 1})
	if len(got) != 1 || got[0].UID != archived[0].UID {
		t.Errorf("List{Tags: [archive], Limit: 1} = %v, want [%s]", uids(got), archived[0].UID)
	}

	// Stopping early: the store must not call yield again (the runtime
	// panics if it does) and must not leave anything behind.
	n := 0
	for _, err := range s.List(t.Context(), mailboxA, sdk.ListOptions{}) {
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		n++
		break
	}
	if n != 1 {
		t.Errorf("List stopped after the first item yielded %d items", n)
	}
	if again := list(t, s, mailboxA, sdk.ListOptions{}); !slices.Equal(uids(all), uids(again)) {
		t.Errorf("List after an early stop differs")
	}
}

// testStatMatchesList checks that Stat's counts and sizes agree with List.
func testStatMatchesList(t *testing.T, su *suite) {
	s := su.s
	for i, tag := range []sdk.Tag{sdk.TagUnread, sdk.TagUnread, sdk.TagArchive, sdk.TagStaged, sdk.TagConversionError} {
		body := append(su.message("stat"), bytes.Repeat([]byte("padding line\r\n"), i*50)...)
		put(t, s, mailboxA, sdk.PutOptions{Tag: tag}, body)
	}
	st, err := s.Stat(t.Context(), mailboxA)
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	var total sdk.TagStat
	for _, tag := range sdk.Tags {
		var want sdk.TagStat
		for _, it := range list(t, s, mailboxA, sdk.ListOptions{Tags: []sdk.Tag{tag}}) {
			want.Count++
			want.Size += it.Size
		}
		if st[tag] != want {
			t.Errorf("Stat[%s] = %+v, List{Tags: [%s]} gives %+v", tag, st[tag], tag, want)
		}
		total.Count += want.Count
		total.Size += want.Size
	}
	for tag := range st {
		if !tag.Valid() {
			t.Errorf("Stat reports invalid tag %q", tag)
		}
	}
	var all sdk.TagStat
	for _, it := range list(t, s, mailboxA, sdk.ListOptions{}) {
		all.Count++
		all.Size += it.Size
	}
	if all != total {
		t.Errorf("List{} gives %+v, the sum of the tags %+v", all, total)
	}

	if _, err := s.Stat(t.Context(), "storetest-never-used-"+su.nonce); err != nil {
		t.Errorf("Stat of a mailbox never written to: %v (want no error)", err)
	}
	if _, err := tryList(t.Context(), s, "storetest-never-used-"+su.nonce, sdk.ListOptions{}); err != nil {
		t.Errorf("List of a mailbox never written to: %v (want no error)", err)
	}
}

// testInvalidTag checks that unknown tags are refused with ErrInvalid and
// change nothing.
func testInvalidTag(t *testing.T, su *suite) {
	s := su.s
	res := put(t, s, mailboxA, sdk.PutOptions{}, su.message("invalid tag"))
	before := takeSnapshot(t, s, mailboxA)
	for _, bad := range []sdk.Tag{"bogus", "UNREAD", "unread ", "\x00"} {
		_, err := s.SetTag(t.Context(), mailboxA, []string{res.UID}, bad)
		wantErr(t, "SetTag with tag "+quote(bad), err, sdk.ErrInvalid)
		_, err = s.Put(t.Context(), mailboxA, sdk.PutOptions{Tag: bad}, bytes.NewReader(su.message("bad tag")))
		wantErr(t, "Put with tag "+quote(bad), err, sdk.ErrInvalid)
		_, err = tryList(t.Context(), s, mailboxA, sdk.ListOptions{Tags: []sdk.Tag{bad}})
		wantErr(t, "List with tag "+quote(bad), err, sdk.ErrInvalid)
	}
	before.check(t, takeSnapshot(t, s, mailboxA), "invalid tags")
}

func quote(t sdk.Tag) string { return strconv.Quote(string(t)) }
