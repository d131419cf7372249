package localfs

import (
	"regexp"
	"strings"
	"testing"

	"github.com/izyware/izypop3/sdk"
)

// The index is read back after crashes and by hand edits: any bytes must
// parse without panicking, a formatted line must parse back to itself, and
// a line that parses must survive a format/parse round trip unchanged.
func FuzzIndexLine(f *testing.F) {
	f.Add("x.eml", int64(10), int64(1700000000123456789), int64(12), "", "pop3://u@h:110/A")
	f.Add("a\tb\n\"c\\", int64(0), int64(-1), int64(0), strings.Repeat("ab", 32), "\x00\xff\t\n")
	f.Add("k", int64(1), int64(2), int64(3), strings.Repeat("0", 64), "s")
	f.Add("", int64(1<<62), int64(0), int64(1<<62), "", "")
	f.Fuzz(func(t *testing.T, key string, size, mtime, wire int64, sha, src string) {
		if sha != "" && !isHexSHA256(sha) {
			return // the store only ever records hex SHA-256 values
		}
		k := idxKey{key: key, size: size, mtime: mtime}
		m := &meta{wire: wire, sha: sha, sourceID: src}
		line := formatIndexLine(k, m)
		if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
			t.Fatalf("formatted line %q is not one line", line)
		}
		k2, m2, ok := parseIndexLine(strings.TrimSuffix(line, "\n"))
		valid := size >= 0 && wire >= 0
		if ok != valid {
			t.Fatalf("parse ok=%v for %+v %+v (valid=%v)", ok, k, m, valid)
		}
		if ok && (k2 != k || *m2 != *m) {
			t.Fatalf("round trip: %+v %+v -> %+v %+v", k, m, k2, m2)
		}
		// Arbitrary bytes as a line, and as a whole file.
		if k3, m3, ok := parseIndexLine(key); ok {
			k4, m4, ok := parseIndexLine(strings.TrimSuffix(formatIndexLine(k3, m3), "\n"))
			if !ok || k4 != k3 || *m4 != *m3 {
				t.Fatalf("reparse of %q changed it", key)
			}
		}
		idx, _ := readIndex(strings.NewReader(indexHeader + "\n" + key + "\n" + line + src))
		if got := idx[k]; valid && (got == nil || *got != *m) {
			t.Fatalf("readIndex lost a good line after a bad one: %+v", got)
		}
	})
}

// File names come from other programs: parsing them never panics, a key
// never contains the Maildir info, a tag change keeps the key (so the UID),
// and flags stay sorted and unique.
func FuzzNames(f *testing.F) {
	f.Add("1700000000.M1P2.host,S=10,W=12:2,FS", "cur")
	f.Add("x.eml", ".")
	f.Add(":2,", "new")
	f.Add("a:1,weird", "cur")
	f.Add("b,I=abcdefghijklmnop", "new")
	f.Fuzz(func(t *testing.T, name, sub string) {
		if strings.ContainsAny(name, "/\x00") || name == "" {
			return
		}
		for _, lay := range []Layout{LayoutEML, LayoutMaildir} {
			key, cand, ok := lay.parse(name)
			if !ok {
				continue
			}
			if lay == LayoutMaildir && strings.Contains(key, ":") {
				t.Fatalf("maildir key %q contains the info", key)
			}
			if sdk.ValidUID(cand) && cand == "" {
				t.Fatal("empty UID accepted")
			}
			if u := deriveUID(key); !sdk.ValidUID(u) {
				t.Fatalf("derived UID %q invalid", u)
			}
			_ = nameSourceHash(key)
			for _, to := range sdk.Tags {
				dir := sub
				if lay == LayoutMaildir {
					dir = "new"
				}
				ndir, nname := lay.moveTarget(name, dir, to)
				k2, _, ok := lay.parse(nname)
				if !ok || k2 != key {
					t.Fatalf("%s: move of %q to %s -> %s/%q changes key %q -> %q", lay, name, to, ndir, nname, key, k2)
				}
				if lay == LayoutMaildir && to == sdk.TagArchive {
					_, oldInfo := splitInfo(name)
					_, info := splitInfo(nname)
					if oldInfo == "" || strings.HasPrefix(oldInfo, ":2,") {
						if !strings.HasPrefix(info, ":2,") || !strings.Contains(info[3:], "S") {
							t.Fatalf("archive of %q gave info %q, want :2,...S...", name, info)
						}
					}
				}
			}
		}
	})
}

// uniqueNameRE is the form of new names (the Maildir spec's unique name).
var uniqueNameRE = regexp.MustCompile(`^[0-9]{10,}\.M[0-9]{6}P[0-9]+R[0-9a-f]{8}(\.[^.,/:]+)?(,I=[a-z2-7]{16})?$`)

// New names are valid UIDs, carry the SourceID hash, and parse back.
func TestUniqueNames(t *testing.T) {
	seen := map[string]bool{}
	for i := range 1000 {
		for _, lay := range []Layout{LayoutEML, LayoutMaildir} {
			src := ""
			if i%2 == 0 {
				src = "pop3://someone@pop.example.com:995/" + strings.Repeat("U", 70)
			}
			u := uniqueName(lay == LayoutMaildir, src)
			name := lay.fileName(u)
			key, cand, ok := lay.parse(name)
			if !ok || !sdk.ValidUID(cand) || len(cand) > 67 {
				t.Fatalf("%s: new name %q: key %q uid %q ok %v", lay, name, key, cand, ok)
			}
			if seen[cand] {
				t.Fatalf("duplicate name %q", cand)
			}
			if !uniqueNameRE.MatchString(u) {
				t.Fatalf("new name %q is not <sec>.M<usec>P<pid>R<rand>[.<host>][,I=<hash>]", u)
			}
			seen[cand] = true
			if h := nameSourceHash(key); src != "" && h != sourceHash(src) || src == "" && h != "" {
				t.Fatalf("name %q: source hash %q", name, h)
			}
		}
	}
}
