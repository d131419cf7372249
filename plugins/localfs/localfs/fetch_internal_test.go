package localfs

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/izyware/izypop3/sdk"
)

// entryOf puts body into mailbox "m" of a new store and returns the store,
// the mailbox, the entry and the file's path.
func entryOf(t *testing.T, body string) (*mailbox, *entry, string) {
	t.Helper()
	root := t.TempDir()
	s, err := New(Config{Path: root})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	res, err := s.Put(t.Context(), "m", sdk.PutOptions{}, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	mb, err := s.mailbox("m")
	if err != nil {
		t.Fatal(err)
	}
	mb.mu.Lock()
	e, err := mb.lookup(t.Context(), res.UID, true)
	mb.mu.Unlock()
	if err != nil || e == nil {
		t.Fatalf("lookup %s: %v, %v", res.UID, e, err)
	}
	return mb, e, filepath.Join(root, "m", e.dir, e.name)
}

// Both ways of opening a message give its octets and its stat, and neither
// follows a message file that became a symlink after it was listed.
func TestOpenMessage(t *testing.T) {
	const body = "Subject: x\r\n\r\nbody\r\n"
	for _, way := range []string{"beneath", "via dir"} {
		t.Run(way, func(t *testing.T) {
			mb, e, file := entryOf(t, body)
			open := mb.openMessage
			if way == "via dir" {
				open = mb.openViaDir
			}
			rc, st, err := open(e)
			if err != nil {
				t.Fatal(err)
			}
			if way == "beneath" {
				if _, ok := rc.(*msgFile); !ok {
					t.Fatalf("openat2 not used: %T", rc)
				}
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if string(b) != body || err != nil || st.Size != int64(len(body)) {
				t.Fatalf("read %q, %v; size %d", b, err, st.Size)
			}
			outside := filepath.Join(t.TempDir(), "secret")
			if err := os.WriteFile(outside, []byte("secret"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(file); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(outside, file); err != nil {
				t.Fatal(err)
			}
			if rc, _, err := open(e); err == nil {
				b, _ := io.ReadAll(rc)
				rc.Close()
				t.Fatalf("a symlink was followed: %q", b)
			}
			os.Remove(file)
			if _, _, err := open(e); !isNotExist(err) {
				t.Fatalf("a removed file: %v, want not-exist", err)
			}
		})
	}
}

// msgFile reads what the file held when it was opened: the read that
// reaches that size says io.EOF, a file that grew is cut there, one that
// shrank ends early.
func TestMsgFile(t *testing.T) {
	mb, e, file := entryOf(t, "0123456789")
	rc, _, err := mb.openMessage(e)
	if err != nil {
		t.Fatal(err)
	}
	f := rc.(*msgFile)
	if n, err := f.Read(nil); n != 0 || err != nil {
		t.Fatalf("Read(nil) = %d, %v", n, err)
	}
	buf := make([]byte, 4)
	if n, err := f.Read(buf); n != 4 || err != nil {
		t.Fatalf("Read = %d, %v", n, err)
	}
	if err := os.WriteFile(file, []byte("0123456789 and more"), 0o600); err != nil { // same inode, grown
		t.Fatal(err)
	}
	big := make([]byte, 100)
	if n, err := f.Read(big); n != 6 || err != io.EOF || string(big[:n]) != "456789" {
		t.Fatalf("last Read = %d %q, %v; want the 6 octets left and EOF", n, big[:n], err)
	}
	if n, err := f.Read(big); n != 0 || err != io.EOF {
		t.Fatalf("Read after the end = %d, %v", n, err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Read(big); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Read after Close: %v", err)
	}
	if err := f.Close(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}

	rc, _, err = mb.openMessage(e)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if err := os.Truncate(file, 3); err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(rc); string(b) != "012" || err != nil {
		t.Fatalf("shrunk file: %q, %v", b, err)
	}
}
