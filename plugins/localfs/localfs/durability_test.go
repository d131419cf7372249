package localfs

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/storetest"
)

// stepLog holds the durability steps the store took (durabilityHook).
type stepLog struct {
	mu    sync.Mutex
	steps []string
}

// recordSteps records the durability steps until the test ends.
func recordSteps(t *testing.T) *stepLog {
	l := &stepLog{}
	durabilityHook = func(step string) {
		l.mu.Lock()
		l.steps = append(l.steps, step)
		l.mu.Unlock()
	}
	t.Cleanup(func() { durabilityHook = nil })
	return l
}

// stepStore is a fresh store of layout, closed at the end of the test,
// with its durability steps recorded.
func stepStore(t *testing.T, layout Layout) (*Store, *stepLog) {
	s, err := New(Config{Path: t.TempDir(), Layout: layout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, recordSteps(t)
}

// take returns the steps recorded since the last take.
func (l *stepLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	got := l.steps
	l.steps = nil
	return got
}

// Put makes the message durable in the right order: the file is fsync'ed
// before the rename, the directory after it, and all before Put returns.
func TestPutDurabilityOrder(t *testing.T) {
	for _, layout := range []Layout{LayoutEML, LayoutMaildir} {
		t.Run(string(layout), func(t *testing.T) {
			s, steps := stepStore(t, layout)
			if _, err := s.Put(t.Context(), "m", sdk.PutOptions{}, strings.NewReader("Subject: x\r\n\r\ny\r\n")); err != nil {
				t.Fatal(err)
			}
			got := steps.take()
			if want := []string{"fsync-file", "rename", "fsync-dir"}; !slices.Equal(got, want) {
				t.Fatalf("steps %v, want %v", got, want)
			}
			// A Put that stores nothing (existing SourceID) writes nothing.
			s.Put(t.Context(), "m", sdk.PutOptions{SourceID: "a"}, strings.NewReader("1"))
			steps.take()
			res, err := s.Put(t.Context(), "m", sdk.PutOptions{SourceID: "a"}, strings.NewReader("2"))
			if got := steps.take(); err != nil || !res.Existing || len(got) != 0 {
				t.Fatalf("re-Put: %+v %v, steps %v", res, err, got)
			}
		})
	}
}

// A crash mid-write leaves at most a temp file in tmp/: never listed, and
// removed once older than staleTmpAge (by ctime).
func TestCrashLeftovers(t *testing.T) {
	for _, layout := range []Layout{LayoutEML, LayoutMaildir} {
		t.Run(string(layout), func(t *testing.T) {
			root := t.TempDir()
			s, err := New(Config{Path: root, Layout: layout})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Put(t.Context(), "m", sdk.PutOptions{}, strings.NewReader("whole\r\n")); err != nil {
				t.Fatal(err)
			}
			s.Close()
			partial := filepath.Join(root, "m", "tmp", layout.fileName("1700000000.M1P1R00000001"))
			if err := os.WriteFile(partial, []byte("Subject: half"), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err = New(Config{Path: root, Layout: layout})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			n := 0
			for it, err := range s.List(t.Context(), "m", sdk.ListOptions{}) {
				if err != nil {
					t.Fatal(err)
				}
				if it.Size != int64(len("whole\r\n")) {
					t.Fatalf("listed %+v", it)
				}
				n++
			}
			if n != 1 {
				t.Fatalf("%d items, want 1", n)
			}
			if _, err := os.Stat(partial); err != nil {
				t.Fatalf("a fresh temp file was removed: %v", err)
			}
			// Once old enough, the next store start removes it. ctime cannot
			// be set, so the age limit is lowered instead.
			old := staleTmpAge
			staleTmpAge = 0
			defer func() { staleTmpAge = old }()
			time.Sleep(10 * time.Millisecond)
			s2, err := New(Config{Path: root, Layout: layout})
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			if _, err := s2.Stat(t.Context(), "m"); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(partial); !os.IsNotExist(err) {
				t.Fatalf("stale temp file still there: %v", err)
			}
		})
	}
}

// A deferred Put does no fsync; Sync is one syncfs that makes it durable.
func TestDeferredPutAndSync(t *testing.T) {
	for _, layout := range []Layout{LayoutEML, LayoutMaildir} {
		t.Run(string(layout), func(t *testing.T) {
			s, steps := stepStore(t, layout)
			for i := range 3 {
				if _, err := s.Put(t.Context(), "m", sdk.PutOptions{Tag: sdk.TagStaged, SourceID: "d" + string(rune('0'+i)), DeferSync: true},
					strings.NewReader("Subject: x\r\n\r\ny\r\n")); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Sync(t.Context(), "m"); err != nil {
				t.Fatal(err)
			}
			if err := s.Sync(t.Context(), "never-written"); err != nil {
				t.Fatalf("Sync of a mailbox never written to: %v", err)
			}
			got := steps.take()
			if want := []string{"rename", "rename", "rename", "syncfs"}; !slices.Equal(got, want) {
				t.Fatalf("steps %v, want %v", got, want)
			}
		})
	}
}

// A deferred Put's file cut short (a machine crash before the barrier) is
// not taken for the message by a later Put of its SourceID: it is set
// aside and the message stored afresh.
func TestTornDeferredFileIsNotClaimed(t *testing.T) {
	for _, layout := range []Layout{LayoutEML, LayoutMaildir} {
		t.Run(string(layout), func(t *testing.T) {
			root := t.TempDir()
			s, err := New(Config{Path: root, Layout: layout})
			if err != nil {
				t.Fatal(err)
			}
			msg := "Subject: torn\r\n\r\n" + strings.Repeat("body line\r\n", 100)
			res, err := s.Put(t.Context(), "m", sdk.PutOptions{Tag: sdk.TagStaged, SourceID: "pop3://u@h:110/x", DeferSync: true}, strings.NewReader(msg))
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			// Cut the file as a crash before the write-back would.
			var path string
			filepath.Walk(filepath.Join(root, "m"), func(p string, fi os.FileInfo, err error) error {
				if err == nil && fi.Mode().IsRegular() && fi.Size() == int64(len(msg)) {
					path = p
				}
				return nil
			})
			if path == "" {
				t.Fatal("message file not found")
			}
			if err := os.Truncate(path, 40); err != nil {
				t.Fatal(err)
			}
			os.Remove(filepath.Join(root, "m", "izypop3-index")) // a fresh process after the crash
			s2, err := New(Config{Path: root, Layout: layout})
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			res2, err := s2.Put(t.Context(), "m", sdk.PutOptions{Tag: sdk.TagStaged, SourceID: "pop3://u@h:110/x"}, strings.NewReader(msg))
			if err != nil {
				t.Fatal(err)
			}
			if res2.Existing || res2.Size != int64(len(msg)) {
				t.Fatalf("the torn file was claimed: %+v (first %+v)", res2, res)
			}
			var items []sdk.Item
			for it, err := range s2.List(t.Context(), "m", sdk.ListOptions{}) {
				if err != nil {
					t.Fatal(err)
				}
				items = append(items, it)
			}
			if len(items) != 1 || items[0].Size != int64(len(msg)) {
				t.Fatalf("items after the re-Put: %+v", items)
			}
		})
	}
}

// A Put records the SourceID, and for a deferred Put the size, in one
// extended attribute (a second one would cost ext4 a block per message).
func TestPutWritesOneAttribute(t *testing.T) {
	root := t.TempDir()
	s, err := New(Config{Path: root})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	msg := "Subject: a\r\n\r\nb\r\n"
	cases := []struct {
		opts sdk.PutOptions
		want string // "" = no attribute
	}{
		{sdk.PutOptions{Tag: sdk.TagStaged, SourceID: "pop3://u@h:110/1", DeferSync: true}, "17 pop3://u@h:110/1"},
		{sdk.PutOptions{SourceID: "pop3://u@h:110/2"}, "- pop3://u@h:110/2"},
		{sdk.PutOptions{DeferSync: true, Tag: sdk.TagDup}, "17 "},
		{sdk.PutOptions{Tag: sdk.TagArchive}, ""},
	}
	for _, c := range cases {
		res, err := s.Put(t.Context(), "m", c.opts, strings.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		p := itemPath(t, root, "m", res.UID)
		sz, err := unix.Listxattr(p, nil)
		if err != nil {
			if errors.Is(err, unix.ENOTSUP) {
				t.Skip("no user xattrs on this filesystem")
			}
			t.Fatal(err)
		}
		buf := make([]byte, sz)
		n, _ := unix.Listxattr(p, buf)
		var names []string
		for _, nm := range strings.Split(string(buf[:n]), "\x00") {
			if strings.HasPrefix(nm, "user.") {
				names = append(names, nm)
			}
		}
		if c.want == "" {
			if len(names) != 0 {
				t.Fatalf("%+v: attributes %q, want none", c.opts, names)
			}
			continue
		}
		if len(names) != 1 || names[0] != xattrMeta {
			t.Fatalf("%+v: attributes %q, want just %s", c.opts, names, xattrMeta)
		}
		v := make([]byte, 256)
		n, err = unix.Getxattr(p, xattrMeta, v)
		if err != nil || string(v[:n]) != c.want {
			t.Fatalf("%+v: %s = %q (%v), want %q", c.opts, xattrMeta, v[:n], err, c.want)
		}
	}
}

// Files written before the single attribute keep working: their SourceID
// and size attributes are read (a lost index is rebuilt with the SourceID,
// a torn deferred file is still told from the message).
func TestOldAttributesAreRead(t *testing.T) {
	for _, torn := range []bool{false, true} {
		root := t.TempDir()
		s, err := New(Config{Path: root})
		if err != nil {
			t.Fatal(err)
		}
		msg := "Subject: old\r\n\r\n" + strings.Repeat("body line\r\n", 50)
		src := "pop3://u@h:110/old"
		res, err := s.Put(t.Context(), "m", sdk.PutOptions{Tag: sdk.TagStaged, SourceID: src, DeferSync: true}, strings.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		p := itemPath(t, root, "m", res.UID)
		if err := unix.Removexattr(p, xattrMeta); err != nil {
			if errors.Is(err, unix.ENOTSUP) {
				t.Skip("no user xattrs on this filesystem")
			}
			t.Fatal(err)
		}
		if err := unix.Setxattr(p, xattrSourceID, []byte(src), 0); err != nil {
			t.Fatal(err)
		}
		if err := unix.Setxattr(p, xattrSize, []byte(strconv.Itoa(len(msg))), 0); err != nil {
			t.Fatal(err)
		}
		if torn {
			if err := os.Truncate(p, 40); err != nil {
				t.Fatal(err)
			}
		}
		os.Remove(filepath.Join(root, "m", "izypop3-index"))
		s2, err := New(Config{Path: root})
		if err != nil {
			t.Fatal(err)
		}
		items := storetest.List(t, s2, "m")
		if len(items) != 1 || items[0].SourceID != src {
			t.Fatalf("torn=%v: items %+v, want one with SourceID %s", torn, items, src)
		}
		res2, err := s2.Put(t.Context(), "m", sdk.PutOptions{Tag: sdk.TagStaged, SourceID: src}, strings.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		if res2.Existing == torn {
			t.Fatalf("torn=%v: re-Put %+v", torn, res2)
		}
		s2.Close()
	}
}

// itemPath is the file of uid in mailbox mb under root.
func itemPath(t *testing.T, root, mb, uid string) string {
	t.Helper()
	var found string
	filepath.Walk(filepath.Join(root, mb), func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() && strings.HasPrefix(fi.Name(), uid) {
			found = p
		}
		return nil
	})
	if found == "" {
		t.Fatalf("no file for %s", uid)
	}
	return found
}

// digestBody is a Put body that knows its digest (sdk.Digester), as the
// sdk's plugin side hands a store.
type digestBody struct {
	*strings.Reader
	d [32]byte
}

func (b digestBody) SHA256() [32]byte { return b.d }

// Put takes the digest of a body that is an sdk.Digester instead of
// hashing the message again.
func TestPutTakesTheBodysDigest(t *testing.T) {
	s, err := New(Config{Path: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	msg := "Subject: d\r\n\r\nbody\r\n"
	d := sha256.Sum256([]byte(msg))
	res, err := s.Put(t.Context(), "m", sdk.PutOptions{}, digestBody{strings.NewReader(msg), d})
	if err != nil || res.SHA256 != hex.EncodeToString(d[:]) {
		t.Fatalf("Put: %+v %v", res, err)
	}
	marker := [32]byte{7}
	res, err = s.Put(t.Context(), "m", sdk.PutOptions{}, digestBody{strings.NewReader("Subject: e\r\n\r\nx\r\n"), marker})
	if err != nil || res.SHA256 != hex.EncodeToString(marker[:]) {
		t.Fatalf("Put: %+v %v, want the body's digest %x", res, err, marker)
	}
}

// A deferred Put whose size attribute could not be written (here a
// SourceID longer than any xattr value, E2BIG) is fsync'ed at once: no
// record could tell a file cut short by a crash before the barrier.
func TestDeferredPutWithoutAttributeIsSynced(t *testing.T) {
	s, steps := stepStore(t, LayoutEML)
	long := strings.Repeat("s", 70<<10)
	if _, err := s.Put(t.Context(), "m", sdk.PutOptions{Tag: sdk.TagStaged, SourceID: long, DeferSync: true},
		strings.NewReader("Subject: x\r\n\r\ny\r\n")); err != nil {
		t.Fatal(err)
	}
	if got, want := steps.take(), []string{"fsync-file", "rename"}; !slices.Equal(got, want) {
		t.Fatalf("steps %v, want %v", got, want)
	}
}
