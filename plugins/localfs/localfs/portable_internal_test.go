package localfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/storetest"
)

// withoutLinuxCalls makes the store take, until the test ends, the way it
// takes on systems without renameat2, openat2 and syncfs.
func withoutLinuxCalls(t *testing.T) {
	old := linuxCalls
	linuxCalls = false
	t.Cleanup(func() { linuxCalls = old })
}

// linkUnlink moves a file without replacing an existing one.
func TestLinkUnlink(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"a": "A", "b": "B"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := linkUnlink(dirFD(d), "a", dirFD(d), "c"); err != nil {
		t.Fatalf("a -> c: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "a")); !os.IsNotExist(err) {
		t.Fatalf("a still there after a -> c: %v", err)
	}
	err = linkUnlink(dirFD(d), "c", dirFD(d), "b")
	if !errors.Is(err, unix.EEXIST) {
		t.Fatalf("c -> b over an existing b: %v, want EEXIST", err)
	}
	for name, want := range map[string]string{"b": "B", "c": "A"} {
		if got, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(got) != want {
			t.Fatalf("%s = %q, %v; want %q", name, got, err, want)
		}
	}
}

// Without syncfs a deferred Put fsyncs its file at once and records no
// size (the file is whole); Sync fsyncs the directory Puts of each tag
// rename into, also for Puts of a store that is gone (a dead process).
func TestDeferredPutWithoutSyncfs(t *testing.T) {
	withoutLinuxCalls(t)
	for _, layout := range []Layout{LayoutEML, LayoutMaildir} {
		t.Run(string(layout), func(t *testing.T) {
			root := t.TempDir()
			s, err := New(Config{Path: root, Layout: layout})
			if err != nil {
				t.Fatal(err)
			}
			steps := recordSteps(t)
			src := "pop3://u@h:110/p"
			res, err := s.Put(t.Context(), "m", sdk.PutOptions{Tag: sdk.TagStaged, SourceID: src, DeferSync: true}, strings.NewReader("Subject: x\r\n\r\ny\r\n"))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := steps.take(), []string{"fsync-file", "rename"}; !slices.Equal(got, want) {
				t.Fatalf("Put steps %v, want %v", got, want)
			}
			v := make([]byte, 256)
			if n, err := unix.Getxattr(itemPath(t, root, "m", res.UID), xattrMeta, v); err == nil {
				if got, want := string(v[:n]), "- "+src; got != want {
					t.Fatalf("%s = %q, want %q", xattrMeta, got, want)
				}
			} else if !errors.Is(err, unix.ENOTSUP) {
				t.Fatal(err)
			}
			s.Close() // without Sync, as a plugin process that dies

			var want []string // a step for each Put directory there is
			for _, tag := range sdk.Tags {
				if _, dir := layout.putDirs(tag); dirExists(filepath.Join(root, "m", dir)) {
					want = append(want, "fsync-dir")
				}
			}
			if len(want) == 0 {
				t.Fatal("no Put directory found")
			}
			s2, err := New(Config{Path: root, Layout: layout})
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			if err := s2.Sync(t.Context(), "m"); err != nil {
				t.Fatal(err)
			}
			if got := steps.take(); !slices.Equal(got, want) {
				t.Fatalf("Sync steps %v, want %v", got, want)
			}
			if err := s2.Sync(t.Context(), "never-written"); err != nil {
				t.Fatalf("Sync of a mailbox never written to: %v", err)
			}
			if got := steps.take(); len(got) != 0 {
				t.Fatalf("Sync of a mailbox never written to: steps %v", got)
			}
		})
	}
}

func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// The conformance suite passes the way other systems go: link + unlink,
// Fetch through the os.Root, Sync without syncfs.
func TestConformanceWithoutLinuxCalls(t *testing.T) {
	withoutLinuxCalls(t)
	for _, layout := range []Layout{LayoutEML, LayoutMaildir} {
		t.Run(string(layout), func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) sdk.Store {
				s, err := New(Config{Path: t.TempDir(), Layout: layout})
				if err != nil {
					t.Fatal(err)
				}
				return s
			})
		})
	}
}

// A tag change by link + unlink (other systems, or Linux filesystems
// without RENAME_NOREPLACE) killed between the two leaves the message
// under both names; the next SetTag of it finishes the move instead of
// failing with sdk.ErrConflict on every try.
func TestSetTagAfterCutLinkUnlink(t *testing.T) {
	for _, linux := range []bool{true, false} {
		t.Run(fmt.Sprint("linuxCalls=", linux), func(t *testing.T) {
			if !linux {
				withoutLinuxCalls(t)
			}
			root := t.TempDir()
			s := newStore(t, root)
			res, err := s.Put(t.Context(), "m", sdk.PutOptions{SourceID: "s1", Tag: sdk.TagUnread}, strings.NewReader("Subject: a\r\n\r\nbody\r\n"))
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			names, _ := filepath.Glob(filepath.Join(root, "m", "*.eml"))
			if len(names) != 1 {
				t.Fatalf("message files %v", names)
			}
			// SetTag(archive) killed right after its link.
			archived := filepath.Join(root, "m", string(sdk.TagArchive), filepath.Base(names[0]))
			if err := os.MkdirAll(filepath.Dir(archived), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Link(names[0], archived); err != nil {
				t.Fatal(err)
			}
			rerun := newStore(t, root)
			if _, err := rerun.SetTag(t.Context(), "m", []string{res.UID}, sdk.TagArchive); err != nil {
				t.Fatalf("SetTag(archive) after a move cut between link and unlink: %v", err)
			}
			if _, err := os.Stat(names[0]); !os.IsNotExist(err) {
				t.Errorf("the unread name is still there after SetTag(archive): %v", err)
			}
			if _, err := os.Stat(archived); err != nil {
				t.Errorf("the archive name: %v", err)
			}
			items := storetest.List(t, rerun, "m")
			if len(items) != 1 || items[0].Tag != sdk.TagArchive {
				t.Errorf("items after the SetTag: %+v, want the one message, archived", items)
			}
		})
	}
}
