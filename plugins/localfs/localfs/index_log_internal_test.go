package localfs

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/izyware/izypop3/internal/testkit"
	"github.com/izyware/izypop3/sdk"
)

// TestIndexWriteFailureLogged: an index the store cannot write (here a
// directory in its place; a full disk fails the same way) does not fail
// the Put, but is logged, once per run of failures, with the mailbox and
// the error; the write that works again is logged too.
func TestIndexWriteFailureLogged(t *testing.T) {
	root := t.TempDir()
	var logs testkit.SyncBuffer
	s, err := New(Config{Path: root, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	put := func(i int) {
		t.Helper()
		if _, err := s.Put(t.Context(), "m", sdk.PutOptions{}, strings.NewReader(fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n", i))); err != nil {
			t.Fatalf("Put: %v", err)
		}
		if err := s.Sync(t.Context(), "m"); err != nil {
			t.Fatalf("Sync: %v", err)
		}
	}
	put(0)
	if l := logs.String(); l != "" {
		t.Fatalf("logs of a working index: %s", l)
	}
	idx := filepath.Join(root, "m", indexName)
	if err := os.Remove(idx); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(idx, 0o700); err != nil {
		t.Fatal(err)
	}
	put(1)
	put(2)
	l := logs.String()
	if n := strings.Count(l, "index write failed"); n != 1 {
		t.Fatalf("want one warning for a run of index write failures, got %d:\n%s", n, l)
	}
	if !strings.Contains(l, "level=WARN") || !strings.Contains(l, "mailbox=m") || !strings.Contains(l, "is a directory") {
		t.Fatalf("warning without level, mailbox or cause:\n%s", l)
	}
	if err := os.Remove(idx); err != nil {
		t.Fatal(err)
	}
	put(3)
	if !strings.Contains(logs.String(), "index written again") {
		t.Fatalf("no notice that the index works again:\n%s", logs.String())
	}
}
