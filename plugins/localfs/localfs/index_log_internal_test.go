package localfs

import (
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
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

// appendQuoted writes what strconv.Quote does, so index lines read back
// the same in every version.
func TestAppendQuoted(t *testing.T) {
	for _, s := range []string{"", "1796298084.M458196P19478R8b1ebddd,I=rzrzgj25qzdlw6bt.eml",
		"pop3://a%40b@h:110/U 1", "tab\there", `q"uote`, `back\slash`, "del\x7f", "nul\x00", "ünï", "\xff\xfe", "~!#$%&'()*+,-./:;<=>?@[]^_`{|}"} {
		if got, want := string(appendQuoted([]byte("x"), s)), "x"+strconv.Quote(s); got != want {
			t.Errorf("appendQuoted(%q) = %s, want %s", s, got, want)
		}
		// The whole line, against the format as first written.
		k, m := idxKey{s + ".eml", 12, -3}, &meta{wire: 14, sourceID: s}
		body := "E\t" + strconv.Quote(k.key) + "\t12\t-3\t14\t-\t" + strconv.Quote(s)
		if got, want := formatIndexLine(k, m), body+"\t"+fmt.Sprintf("%08x", crc32.ChecksumIEEE([]byte(body)))+"\n"; got != want {
			t.Errorf("formatIndexLine = %q, want %q", got, want)
		}
	}
}

// BenchmarkFormatIndexLine formats the index line of a Put of clientpop3.
func BenchmarkFormatIndexLine(b *testing.B) {
	k := idxKey{"1796298084.M458196P19478R8b1ebddd,I=rzrzgj25qzdlw6bt.eml", 20345, 1796298084458196123}
	m := &meta{wire: 20712, sha: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", sourceID: "pop3://bench@127.0.0.1:1234/000000016b115563"}
	for b.Loop() {
		_ = formatIndexLine(k, m)
	}
}
