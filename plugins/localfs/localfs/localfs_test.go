package localfs_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/izyware/izypop3/plugins/localfs/localfs"
	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/storetest"
)

func open(t *testing.T, root, layout string) *localfs.Store {
	t.Helper()
	s, err := localfs.New(localfs.Config{Path: root, Layout: localfs.Layout(layout)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustPut(t *testing.T, s sdk.Store, mb string, opts sdk.PutOptions, body string) sdk.PutResult {
	t.Helper()
	res, err := s.Put(t.Context(), mb, opts, strings.NewReader(body))
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	return res
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var n []string
	for _, de := range des {
		n = append(n, de.Name())
	}
	return n
}

func hexSHA(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

const msgCRLF = "From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n"
const msgLF = "From: b@example.org\nSubject: lf\n\nline one\n.dot line\nno final newline"

// The eml layout: unread *.eml in ROOT/M, other tags in subfolders created
// on demand, the UID is the file name, bytes are exactly what was Put.
func TestEMLLayout(t *testing.T) {
	root := t.TempDir()
	s := open(t, root, "eml")
	res := mustPut(t, s, "alice", sdk.PutOptions{}, msgCRLF)
	if res.Tag != sdk.TagUnread || res.Size != int64(len(msgCRLF)) || res.SHA256 != hexSHA(msgCRLF) {
		t.Fatalf("PutResult = %+v", res)
	}
	p := filepath.Join(root, "alice", res.UID+".eml")
	if b, err := os.ReadFile(p); err != nil || string(b) != msgCRLF {
		t.Fatalf("%s = %q, %v", p, b, err)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	for _, tag := range []sdk.Tag{sdk.TagArchive, sdk.TagStaged, sdk.TagDup, sdk.TagPOP3Failed, sdk.TagConversionError, sdk.TagUnread} {
		if nf, err := s.SetTag(t.Context(), "alice", []string{res.UID}, tag); err != nil || len(nf) != 0 {
			t.Fatalf("SetTag %s: %v %v", tag, nf, err)
		}
		dir := filepath.Join(root, "alice")
		if tag != sdk.TagUnread {
			dir = filepath.Join(dir, string(tag))
		}
		if _, err := os.Stat(filepath.Join(dir, res.UID+".eml")); err != nil {
			t.Fatalf("after SetTag %s: %v", tag, err)
		}
		items := storetest.List(t, s, "alice")
		if len(items) != 1 || items[0].UID != res.UID || items[0].Tag != tag {
			t.Fatalf("after SetTag %s: %+v", tag, items)
		}
	}
	if got := names(t, filepath.Join(root, "alice", "tmp")); len(got) != 0 {
		t.Errorf("tmp/ not empty: %v", got)
	}
}

// The maildir layout: unread in new/ (cur/ too), other tags in Maildir++
// subfolders; archive goes to cur/ with the S flag; the UID is the base
// name without the info; files written by Dovecot or mpop (LF endings, info
// suffix) are served with Size = file size and WireSize = CRLF size.
func TestMaildirLayout(t *testing.T) {
	root := t.TempDir()
	s := open(t, root, "maildir")
	res := mustPut(t, s, "bob", sdk.PutOptions{}, msgCRLF)
	if _, err := os.Stat(filepath.Join(root, "bob", "new", res.UID)); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"tmp", "new", "cur"} {
		if st, err := os.Stat(filepath.Join(root, "bob", d)); err != nil || !st.IsDir() {
			t.Fatalf("%s: %v", d, err)
		}
	}
	if _, err := s.SetTag(t.Context(), "bob", []string{res.UID}, sdk.TagArchive); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "bob", ".archive", "cur", res.UID+":2,S")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "bob", ".archive", "maildirfolder")); err != nil {
		t.Fatalf("Maildir++ subfolder marker: %v", err)
	}
	if _, err := s.SetTag(t.Context(), "bob", []string{res.UID}, sdk.TagUnread); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "bob", "cur", res.UID+":2,S")); err != nil {
		t.Fatalf("back to unread keeps cur/ and flags: %v", err)
	}

	// Dropped in by Dovecot/mpop: LF line endings, flags, Dovecot size fields.
	dovecot := "1700000000.M1P2.mail,S=85,W=91"
	writeFile(t, filepath.Join(root, "bob", "cur", dovecot+":2,FS"), msgLF)
	writeFile(t, filepath.Join(root, "bob", "new", "1700000001.M2P3.mail"), "a\nb\n")
	writeFile(t, filepath.Join(root, "bob", "new", ".hidden"), "not a message")
	writeFile(t, filepath.Join(root, "bob", "tmp", "1700000002.M3P4.mail"), "in delivery")
	items := storetest.List(t, s, "bob")
	byUID := map[string]sdk.Item{}
	for _, it := range items {
		byUID[it.UID] = it
	}
	if len(items) != 3 {
		t.Fatalf("items = %+v", items)
	}
	it, ok := byUID[dovecot]
	if !ok {
		t.Fatalf("no item with UID %q: %+v", dovecot, items)
	}
	wire, _ := sdk.WireSizeOf(strings.NewReader(msgLF))
	if it.Size != int64(len(msgLF)) || it.WireSize != wire || it.Tag != sdk.TagUnread {
		t.Fatalf("dropped-in item %+v, want size %d wire %d", it, len(msgLF), wire)
	}
	if got := string(storetest.Fetch(t, s, "bob", dovecot)); got != msgLF {
		t.Fatalf("Fetch = %q", got)
	}
	// Moving it keeps its flags and its UID.
	if _, err := s.SetTag(t.Context(), "bob", []string{dovecot}, sdk.TagStaged); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "bob", ".staged", "cur", dovecot+":2,FS")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetTag(t.Context(), "bob", []string{"1700000001.M2P3.mail"}, sdk.TagArchive); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "bob", ".archive", "cur", "1700000001.M2P3.mail:2,S")); err != nil {
		t.Fatal(err)
	}
}

// The seed's flat layout (the .eml files directly in a folder, with
// archive/ and friends next to them) is served by pointing path at the
// folder's parent and using the folder's name as the mailbox.
func TestSeedFlatLayout(t *testing.T) {
	parent := t.TempDir()
	seed := filepath.Join(parent, "mimestore")
	writeFile(t, filepath.Join(seed, "1.eml"), msgCRLF)
	writeFile(t, filepath.Join(seed, "message two.eml"), msgLF) // space: not a valid UID
	writeFile(t, filepath.Join(seed, "archive", "old.eml"), "Subject: old\r\n\r\nx\r\n")
	writeFile(t, filepath.Join(seed, "notes.txt"), "not a message")
	s := open(t, parent, "eml")
	items := storetest.List(t, s, "mimestore")
	if len(items) != 3 {
		t.Fatalf("items %+v", items)
	}
	var spaced string
	for _, it := range items {
		if !sdk.ValidUID(it.UID) {
			t.Fatalf("invalid UID %q", it.UID)
		}
		if it.UID != "1" && it.UID != "old" {
			spaced = it.UID
		}
	}
	if got := string(storetest.Fetch(t, s, "mimestore", spaced)); got != msgLF {
		t.Fatalf("Fetch(%q) = %q", spaced, got)
	}
	if got := storetest.List(t, s, "mimestore", sdk.TagArchive); len(got) != 1 || got[0].UID != "old" {
		t.Fatalf("archive = %+v", got)
	}
	// The derived UID is stable across a restart and a tag change.
	if _, err := s.SetTag(t.Context(), "mimestore", []string{spaced}, sdk.TagArchive); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2 := open(t, parent, "eml")
	found := false
	for _, it := range storetest.List(t, s2, "mimestore", sdk.TagArchive) {
		found = found || it.UID == spaced
	}
	if !found {
		t.Fatalf("UID %q lost after restart", spaced)
	}
	if _, err := os.Stat(filepath.Join(seed, "archive", "message two.eml")); err != nil {
		t.Fatal(err)
	}
}

// Files dropped in by other tools are picked up by the next List, and all
// UIDs survive a restart.
func TestDroppedInAndRestart(t *testing.T) {
	for _, layout := range []string{"eml", "maildir"} {
		t.Run(layout, func(t *testing.T) {
			root := t.TempDir()
			s := open(t, root, layout)
			r1 := mustPut(t, s, "m", sdk.PutOptions{SourceID: "pop3://u@h:110/A"}, msgCRLF)
			if len(storetest.List(t, s, "m")) != 1 {
				t.Fatal("want 1 item")
			}
			drop := filepath.Join(root, "m", "dropped.eml")
			if layout == "maildir" {
				drop = filepath.Join(root, "m", "new", "dropped")
			}
			writeFile(t, drop, msgLF)
			before := storetest.List(t, s, "m")
			if len(before) != 2 {
				t.Fatalf("dropped-in file not picked up: %+v", before)
			}
			s.Close()
			s2 := open(t, root, layout)
			after := storetest.List(t, s2, "m")
			if !slices.EqualFunc(before, after, func(a, b sdk.Item) bool {
				return a.UID == b.UID && a.Size == b.Size && a.WireSize == b.WireSize && a.SourceID == b.SourceID && a.Tag == b.Tag
			}) {
				t.Fatalf("after restart\n%+v\nwant\n%+v", after, before)
			}
			res := mustPut(t, s2, "m", sdk.PutOptions{SourceID: "pop3://u@h:110/A"}, msgCRLF)
			if !res.Existing || res.UID != r1.UID {
				t.Fatalf("re-Put after restart: %+v", res)
			}
		})
	}
}

// Received is kept (as the file's mtime) and reported by List.
func TestReceived(t *testing.T) {
	s := open(t, t.TempDir(), "eml")
	when := time.Date(2024, 2, 29, 12, 34, 56, 789, time.UTC)
	res := mustPut(t, s, "m", sdk.PutOptions{Received: when}, msgCRLF)
	items := storetest.List(t, s, "m")
	if len(items) != 1 || items[0].UID != res.UID || !items[0].Received.Equal(when) {
		t.Fatalf("items %+v, want Received %v", items, when)
	}
}

// Mailbox names that could name another path are refused; nothing is
// created outside ROOT.
func TestPathEscape(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "root")
	if err := os.Mkdir(root, 0o700); err != nil {
		t.Fatal(err)
	}
	s := open(t, root, "eml")
	bad := []string{"", ".", "..", "../x", "a/b", "/abs", "/", `a\b`, "a\x00b", "x\n", strings.Repeat("a", 256)}
	for _, mb := range bad {
		if _, err := s.Put(t.Context(), mb, sdk.PutOptions{}, strings.NewReader(msgCRLF)); !errors.Is(err, sdk.ErrInvalid) {
			t.Errorf("Put(%q): %v, want ErrInvalid", mb, err)
		}
		for _, err := range s.List(t.Context(), mb, sdk.ListOptions{}) {
			if !errors.Is(err, sdk.ErrInvalid) {
				t.Errorf("List(%q): %v, want ErrInvalid", mb, err)
			}
		}
		if _, err := s.Fetch(t.Context(), mb, "x"); !errors.Is(err, sdk.ErrInvalid) {
			t.Errorf("Fetch(%q): %v, want ErrInvalid", mb, err)
		}
		if _, err := s.Lock(t.Context(), mb); !errors.Is(err, sdk.ErrInvalid) {
			t.Errorf("Lock(%q): %v, want ErrInvalid", mb, err)
		}
	}
	if got := names(t, parent); !slices.Equal(got, []string{"root"}) {
		t.Fatalf("created outside ROOT: %v", got)
	}
	// A UID is looked up, never joined into a path.
	mustPut(t, s, "m", sdk.PutOptions{}, msgCRLF)
	writeFile(t, filepath.Join(parent, "secret.eml"), "secret")
	for _, uid := range []string{"../../secret", "../secret.eml", "/etc/passwd", "..", "secret"} {
		if _, err := s.Fetch(t.Context(), "m", uid); !errors.Is(err, sdk.ErrNotFound) {
			t.Errorf("Fetch(%q): %v, want ErrNotFound", uid, err)
		}
	}
}

// Symlinks leading outside ROOT are not followed: neither a mailbox that is
// a symlink to elsewhere nor message files that are symlinks.
func TestSymlinksNotFollowed(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "root")
	outside := filepath.Join(parent, "outside")
	writeFile(t, filepath.Join(outside, "secret.eml"), "secret mail")
	writeFile(t, filepath.Join(parent, "lonely.eml"), "another secret")
	if err := os.Mkdir(root, 0o700); err != nil {
		t.Fatal(err)
	}
	s := open(t, root, "eml")
	if err := os.Symlink(outside, filepath.Join(root, "evil")); err != nil {
		t.Fatal(err)
	}
	for _, err := range s.List(t.Context(), "evil", sdk.ListOptions{}) {
		if err == nil {
			t.Fatal("List through a symlink leading outside ROOT succeeded")
		}
	}
	if _, err := s.Put(t.Context(), "evil", sdk.PutOptions{}, strings.NewReader(msgCRLF)); err == nil {
		t.Fatal("Put through a symlink leading outside ROOT succeeded")
	}
	if got := names(t, outside); !slices.Equal(got, []string{"secret.eml"}) {
		t.Fatalf("wrote outside ROOT: %v", got)
	}
	// A message file that is a symlink (outside, or inside) is not a message.
	mustPut(t, s, "m", sdk.PutOptions{}, msgCRLF)
	if err := os.Symlink(filepath.Join(parent, "lonely.eml"), filepath.Join(root, "m", "link.eml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../outside", filepath.Join(root, "m", "archive")); err != nil {
		t.Fatal(err)
	}
	items := storetest.List(t, s, "m")
	for _, it := range items {
		if got := string(storetest.Fetch(t, s, "m", it.UID)); strings.Contains(got, "secret") {
			t.Fatalf("served %q through a symlink", got)
		}
	}
	if len(items) != 1 {
		t.Fatalf("items %+v", items)
	}
}

// The index is a cache: deleted, truncated mid-line or garbage, it is
// rebuilt from the files; nothing is lost, nothing duplicated, SourceIDs are
// still recognised (with and without the xattr copy).
func TestIndexLossAndCorruption(t *testing.T) {
	for _, layout := range []string{"eml", "maildir"} {
		for _, damage := range []string{"delete", "truncate", "garbage", "badline", "delete+noxattr"} {
			t.Run(layout+"/"+damage, func(t *testing.T) {
				root := t.TempDir()
				s := open(t, root, layout)
				var puts []sdk.PutResult
				for i := range 20 {
					body := msgLF + strings.Repeat("x", i) + "\n"
					puts = append(puts, mustPut(t, s, "m", sdk.PutOptions{SourceID: "pop3://u@h:110/" + string(rune('A'+i))}, body))
				}
				if _, err := s.SetTag(t.Context(), "m", []string{puts[3].UID}, sdk.TagArchive); err != nil {
					t.Fatal(err)
				}
				before := storetest.List(t, s, "m")
				s.Close()

				idx := filepath.Join(root, "m", "izypop3-index")
				b, err := os.ReadFile(idx)
				if err != nil {
					t.Fatal(err)
				}
				switch damage {
				case "delete", "delete+noxattr":
					os.Remove(idx)
				case "truncate":
					os.WriteFile(idx, b[:len(b)/2], 0o600)
				case "garbage":
					os.WriteFile(idx, bytes.Repeat([]byte{0xff, '\n', '\t'}, 1000), 0o600)
				case "badline":
					lines := strings.Split(string(b), "\n")
					lines[5] = strings.Replace(lines[5], "\t1", "\t9", 1)
					os.WriteFile(idx, []byte(strings.Join(lines, "\n")), 0o600)
				}
				noXattr := damage == "delete+noxattr"
				if noXattr {
					filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
						if err == nil && d.Type().IsRegular() {
							unix.Removexattr(p, "user.izypop3")
							unix.Removexattr(p, "user.izypop3.sourceid")
						}
						return nil
					})
				}

				s2 := open(t, root, layout)
				after := storetest.List(t, s2, "m")
				if len(after) != len(before) {
					t.Fatalf("%d items after, %d before", len(after), len(before))
				}
				for i := range before {
					a, b := after[i], before[i]
					want := b.SourceID
					if noXattr {
						want = ""
					}
					if a.UID != b.UID || a.Size != b.Size || a.WireSize != b.WireSize || a.Tag != b.Tag || a.SourceID != want {
						t.Fatalf("item %d after: %+v\nbefore: %+v", i, a, b)
					}
				}
				// Re-fetching a known SourceID stores nothing.
				for i, p := range puts {
					res := mustPut(t, s2, "m", sdk.PutOptions{SourceID: "pop3://u@h:110/" + string(rune('A'+i))}, "whatever")
					if !res.Existing || res.UID != p.UID || res.SHA256 != p.SHA256 {
						t.Fatalf("re-Put %d: %+v, want existing %+v", i, res, p)
					}
				}
				// Same content under a new SourceID is a dup.
				res := mustPut(t, s2, "m", sdk.PutOptions{SourceID: "pop3://u@h:110/new"}, msgLF+"x\n")
				if res.Tag != sdk.TagDup || res.DuplicateOf != puts[1].UID {
					t.Fatalf("dup Put: %+v, want dup of %s", res, puts[1].UID)
				}
				if n := len(storetest.List(t, s2, "m")); n != len(before)+1 {
					t.Fatalf("%d items, want %d", n, len(before)+1)
				}
			})
		}
	}
}

// Config is strict: unknown keys are named, path is required, layout is
// eml or maildir.
func TestConfigure(t *testing.T) {
	s := &localfs.Store{}
	err := s.Configure(t.Context(), map[string]string{"path": t.TempDir(), "pth": "x"})
	if !errors.Is(err, sdk.ErrInvalid) || !strings.Contains(err.Error(), "pth") {
		t.Fatalf("unknown key: %v", err)
	}
	if err := s.Configure(t.Context(), map[string]string{"layout": "eml"}); !errors.Is(err, sdk.ErrInvalid) || !strings.Contains(err.Error(), "path") {
		t.Fatalf("missing path: %v", err)
	}
	if err := s.Configure(t.Context(), map[string]string{"path": t.TempDir(), "layout": "mbox"}); !errors.Is(err, sdk.ErrInvalid) || !strings.Contains(err.Error(), "mbox") {
		t.Fatalf("bad layout: %v", err)
	}
	for range s.List(t.Context(), "m", sdk.ListOptions{}) {
	}
	if _, err := s.Stat(t.Context(), "m"); !errors.Is(err, sdk.ErrInvalid) {
		t.Fatalf("unconfigured store: %v", err)
	}
	// A missing ROOT is an error, and nothing is created: a typo in the
	// path must not serve empty mailboxes. A file is no ROOT either.
	parent := t.TempDir()
	p := filepath.Join(parent, "a", "b")
	err = s.Configure(t.Context(), map[string]string{"path": p})
	if !errors.Is(err, sdk.ErrInvalid) || !strings.Contains(err.Error(), "mimestore.path "+p+" does not exist") {
		t.Fatalf("missing root: %v", err)
	}
	if _, err := os.Stat(filepath.Join(parent, "a")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the missing root's parent was created: %v", err)
	}
	writeFile(t, filepath.Join(parent, "file"), "x")
	if err := s.Configure(t.Context(), map[string]string{"path": filepath.Join(parent, "file")}); !errors.Is(err, sdk.ErrInvalid) || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("root is a file: %v", err)
	}
	// Mailbox directories under an existing ROOT are created on demand.
	if err := os.MkdirAll(p, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := s.Configure(t.Context(), map[string]string{"path": p}); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "m", sdk.PutOptions{}, msgCRLF)
	if _, err := os.Stat(filepath.Join(p, "m")); err != nil {
		t.Fatal(err)
	}
}

// Two files with the same name in two tag folders still get distinct UIDs,
// deterministically.
func TestUIDCollision(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "m", "same.eml"), "one\r\n")
	writeFile(t, filepath.Join(root, "m", "archive", "same.eml"), "two\r\n")
	s := open(t, root, "eml")
	items := storetest.List(t, s, "m")
	if len(items) != 2 || items[0].UID != "same" || items[1].UID == "same" || !sdk.ValidUID(items[1].UID) {
		t.Fatalf("items %+v", items)
	}
	if got := string(storetest.Fetch(t, s, "m", items[1].UID)); got != "two\r\n" {
		t.Fatalf("Fetch = %q", got)
	}
	again := storetest.List(t, open(t, root, "eml"), "m")
	if again[1].UID != items[1].UID {
		t.Fatalf("derived UID changed: %q vs %q", again[1].UID, items[1].UID)
	}
	// Moving one onto the other's name is a conflict, not an overwrite.
	if _, err := s.SetTag(t.Context(), "m", []string{"same"}, sdk.TagArchive); !errors.Is(err, sdk.ErrConflict) {
		t.Fatalf("SetTag onto an existing name: %v, want ErrConflict", err)
	}
	if got := string(storetest.Fetch(t, s, "m", items[1].UID)); got != "two\r\n" {
		t.Fatalf("overwritten: %q", got)
	}
}

// The Locker: two store instances on the same directory exclude each other;
// Unlock (or Close) releases.
func TestLockerTwoInstances(t *testing.T) {
	root := t.TempDir()
	a, b := open(t, root, "eml"), open(t, root, "eml")
	tok, err := a.Lock(t.Context(), "m")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Lock(t.Context(), "m"); !errors.Is(err, sdk.ErrInUse) {
		t.Fatalf("second Lock: %v, want ErrInUse", err)
	}
	if _, err := a.Lock(t.Context(), "m"); !errors.Is(err, sdk.ErrInUse) {
		t.Fatalf("Lock twice in one store: %v, want ErrInUse", err)
	}
	if tb, err := b.Lock(t.Context(), "other"); err != nil {
		t.Fatalf("other mailbox: %v", err)
	} else if err := b.Unlock(t.Context(), "other", tb); err != nil {
		t.Fatal(err)
	}
	if err := a.Unlock(t.Context(), "m", "bogus"); !errors.Is(err, sdk.ErrInvalid) {
		t.Fatalf("Unlock with a bad token: %v", err)
	}
	if err := a.Unlock(t.Context(), "m", tok); err != nil {
		t.Fatal(err)
	}
	tb, err := b.Lock(t.Context(), "m")
	if err != nil {
		t.Fatalf("Lock after Unlock: %v", err)
	}
	b.Close() // Close releases
	if _, err := a.Lock(t.Context(), "m"); err != nil {
		t.Fatalf("Lock after the holder closed: %v", err)
	}
	_ = tb
}

// Folders removed by someone else while the store runs are created again.
func TestFoldersRemovedUnderneath(t *testing.T) {
	for _, layout := range []string{"eml", "maildir"} {
		t.Run(layout, func(t *testing.T) {
			root := t.TempDir()
			s := open(t, root, layout)
			r := mustPut(t, s, "m", sdk.PutOptions{}, msgCRLF)
			if _, err := s.SetTag(t.Context(), "m", []string{r.UID}, sdk.TagArchive); err != nil {
				t.Fatal(err)
			}
			if _, err := s.SetTag(t.Context(), "m", []string{r.UID}, sdk.TagUnread); err != nil {
				t.Fatal(err)
			}
			archive := filepath.Join(root, "m", "archive")
			if layout == "maildir" {
				archive = filepath.Join(root, "m", ".archive")
			}
			if err := os.RemoveAll(archive); err != nil {
				t.Fatal(err)
			}
			if _, err := s.SetTag(t.Context(), "m", []string{r.UID}, sdk.TagArchive); err != nil {
				t.Fatalf("SetTag after the folder was removed: %v", err)
			}
			if err := os.RemoveAll(filepath.Join(root, "m")); err != nil {
				t.Fatal(err)
			}
			r2 := mustPut(t, s, "m", sdk.PutOptions{SourceID: "x"}, msgLF)
			if items := storetest.List(t, s, "m"); len(items) != 1 || items[0].UID != r2.UID {
				t.Fatalf("after the mailbox was removed: %+v", items)
			}
		})
	}
}
