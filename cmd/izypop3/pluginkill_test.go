package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childPIDs lists the direct children of pid (the store plugin of a server).
func childPIDs(t *testing.T, pid int) []int {
	t.Helper()
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, s := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(s); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// treeDigest hashes every file name and content under dir.
func treeDigest(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if strings.HasPrefix(filepath.Base(rel), "izypop3") {
			return nil // the store's own index and lock files
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%x\x00", rel, sha256.Sum256(b))
		return nil
	})
	return fmt.Sprintf("%x", h.Sum(nil))
}

// Issue 3: a store plugin killed mid-RETR → that session gets a closed
// connection (never a truncated message followed by a terminator), the next
// session works, and nothing changed in the store.
func TestPluginKilledMidRetr(t *testing.T) {
	if _, err := os.Stat("/proc/self/task"); err != nil {
		t.Skip("needs /proc (Linux)")
	}
	root := t.TempDir()
	mbox := filepath.Join(root, "alice")
	if err := os.MkdirAll(mbox, 0o755); err != nil {
		t.Fatal(err)
	}
	// One 40 MiB message: far more than socket buffers hold, so the plugin
	// is still streaming it when it is killed.
	var big bytes.Buffer
	big.WriteString("From: a@example.com\r\nTo: alice@example.com\r\nSubject: big\r\n\r\n")
	line := strings.Repeat("0123456789abcdef", 4) + "\r\n"
	for big.Len() < 40<<20 {
		big.WriteString(line)
	}
	if err := os.WriteFile(filepath.Join(mbox, "big.eml"), big.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mbox, "small.eml"), []byte("Subject: small\r\n\r\nhello\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := treeDigest(t, root)

	p := freePort(t)
	srv := startServer(t, p, "serverpop3", "--port", strconv.Itoa(p), "--password=pw", "--modhandler=localfs",
		"--mimestore.path="+root, "--plugin-dir="+binDir)

	c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	r := bufio.NewReader(c)
	r.ReadString('\n')
	fmt.Fprintf(c, "USER alice\r\nPASS pw\r\nUIDL\r\n")
	for i := 0; i < 2; i++ {
		if l, _ := r.ReadString('\n'); !strings.HasPrefix(l, "+OK") {
			t.Fatalf("login: %q", l)
		}
	}
	bigN := ""
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		l = strings.TrimRight(l, "\r\n")
		if l == "." {
			break
		}
		if f := strings.Fields(l); len(f) == 2 && f[1] == "big" {
			bigN = f[0]
		}
	}
	if bigN == "" {
		t.Fatal("UIDL does not list big")
	}
	fmt.Fprintf(c, "RETR %s\r\n", bigN)
	// Read a little, so the transfer is under way, then kill the plugin.
	got := make([]byte, 1<<20)
	if _, err := io.ReadFull(r, got); err != nil {
		t.Fatalf("start of RETR: %v", err)
	}
	kids := childPIDs(t, srv.Process.Pid)
	if len(kids) != 1 {
		t.Fatalf("server has children %v, want exactly the plugin", kids)
	}
	if err := syscall.Kill(kids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(r)
	if err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("after the kill: %v", err)
	}
	total := append(got, rest...)
	if bytes.HasSuffix(total, []byte("\r\n.\r\n")) {
		t.Fatalf("a RETR cut by a dead plugin ended with the terminator (%d octets received of %d)", len(total), big.Len())
	}

	// The next session works (on a fresh plugin process) and sees both.
	deadline := time.Now().Add(20 * time.Second)
	for {
		rep := pop3Session(t, p, "USER alice", "PASS pw", "STAT", "QUIT")
		if strings.HasPrefix(rep[3], "+OK 2 ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no working session after the plugin was killed: %q", rep)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if kids2 := childPIDs(t, srv.Process.Pid); len(kids2) != 1 || kids2[0] == kids[0] {
		t.Errorf("plugin processes after restart %v (killed %d)", kids2, kids[0])
	}
	if after := treeDigest(t, root); after != before {
		t.Error("the store changed after a session cut by a plugin crash")
	}
}
