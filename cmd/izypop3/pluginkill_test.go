package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/izyware/izypop3/internal/testkit"
)

// storePlugin returns the pid of a store plugin izypop3 (pid) runs: a
// child whose command line is a plugin's.
func storePlugin(t *testing.T, pid int) int {
	t.Helper()
	kids := testkit.Children(pid)
	for _, k := range kids {
		if cl, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", k)); bytes.Contains(cl, []byte("__izypop3-store")) {
			return k
		}
	}
	t.Fatalf("no store plugin among the children %v of izypop3 %d", kids, pid)
	return 0
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

// mailboxDir makes a localfs root with a mailbox "alice" of Linux-only
// tests: it returns the root and the mailbox directory.
func mailboxDir(t *testing.T) (root, mbox string) {
	t.Helper()
	if _, err := os.Stat("/proc/self/task"); err != nil {
		t.Skip("needs /proc (Linux)")
	}
	root = t.TempDir()
	mbox = filepath.Join(root, "alice")
	if err := os.MkdirAll(mbox, 0o755); err != nil {
		t.Fatal(err)
	}
	return root, mbox
}

// Issue 3: a store plugin killed mid-RETR → that session gets a closed
// connection (never a truncated message followed by a terminator), the next
// session works, and nothing changed in the store.
func TestPluginKilledMidRetr(t *testing.T) {
	root, mbox := mailboxDir(t)
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

	p := testkit.FreePort(t)
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
	kids := testkit.Children(srv.Process.Pid)
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
	if kids2 := testkit.Children(srv.Process.Pid); len(kids2) != 1 || kids2[0] == kids[0] {
		t.Errorf("plugin processes after restart %v (killed %d)", kids2, kids[0])
	}
	if after := treeDigest(t, root); after != before {
		t.Error("the store changed after a session cut by a plugin crash")
	}
}

// popConn is one raw POP3 connection of a test.
type popConn struct {
	t        *testing.T
	c        net.Conn
	r        *bufio.Reader
	greeting string
}

func dialPOP3(t *testing.T, port int) *popConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(60 * time.Second))
	p := &popConn{t: t, c: c, r: bufio.NewReader(c)}
	p.greeting = p.line()
	return p
}

// line reads one reply line ("" at the end of the connection).
func (p *popConn) line() string {
	l, _ := p.r.ReadString('\n')
	return strings.TrimRight(l, "\r\n")
}

// cmd sends a command and returns its status line.
func (p *popConn) cmd(c string) string {
	fmt.Fprintf(p.c, "%s\r\n", c)
	return p.line()
}

// body reads a multi-line body up to its terminator.
func (p *popConn) body() string {
	var b strings.Builder
	for {
		l, err := p.r.ReadString('\n')
		if err != nil {
			p.t.Fatalf("multi-line reply cut: %v", err)
		}
		if l == ".\r\n" {
			return b.String()
		}
		b.WriteString(l)
	}
}

// Two servers on one localfs root: the plugin behind server A dies while
// A's session holds the maildrop. Its lock died with it, so server B may
// grant the maildrop; A's session must not go on serving and must change
// nothing (it ends with -ERR [SYS/TEMP]), so that no message is retrieved
// and deleted by both.
func TestPluginKilledWhileLocked(t *testing.T) {
	root, mbox := mailboxDir(t)
	for i := 1; i <= 3; i++ {
		msg := fmt.Sprintf("Subject: m%d\r\n\r\nmessage %d\r\n", i, i)
		if err := os.WriteFile(filepath.Join(mbox, fmt.Sprintf("m%d.eml", i)), []byte(msg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	server := func() (int, *exec.Cmd) {
		p := testkit.FreePort(t)
		return p, startServer(t, p, "serverpop3", "--port", strconv.Itoa(p), "--password=pw", "--modhandler=localfs",
			"--on-dele=delete", "--mimestore.path="+root, "--plugin-dir="+binDir)
	}
	pa, srvA := server()
	pb, _ := server()

	a := dialPOP3(t, pa)
	if r := a.cmd("USER alice"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("A USER: %q", r)
	}
	if r := a.cmd("PASS pw"); !strings.HasPrefix(r, "+OK maildrop has 3") {
		t.Fatalf("A PASS: %q", r)
	}
	if r := pop3Session(t, pb, "USER alice", "PASS pw"); !strings.HasPrefix(r[2], "-ERR [IN-USE]") {
		t.Fatalf("B logged in while A holds the maildrop: %q", r)
	}

	kids := testkit.Children(srvA.Process.Pid)
	if len(kids) != 1 {
		t.Fatalf("server A has children %v, want exactly the plugin", kids)
	}
	if err := syscall.Kill(kids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}

	// The lock died with A's plugin: B gets the maildrop, retrieves and
	// deletes message 1.
	b := func() *popConn {
		deadline := time.Now().Add(20 * time.Second)
		for {
			b := dialPOP3(t, pb)
			b.cmd("USER alice")
			r := b.cmd("PASS pw")
			if strings.HasPrefix(r, "+OK maildrop has 3") {
				return b
			}
			if !strings.HasPrefix(r, "-ERR [IN-USE]") || time.Now().After(deadline) {
				t.Fatalf("B PASS after A's plugin died: %q", r)
			}
			b.c.Close()
			time.Sleep(50 * time.Millisecond)
		}
	}()
	if r := b.cmd("RETR 1"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("B RETR 1: %q", r)
	}
	b.body()

	// A's session may not retrieve or change anything any more.
	r := a.cmd("RETR 1")
	if !strings.HasPrefix(r, "-ERR [SYS/TEMP]") {
		if strings.HasPrefix(r, "+OK") {
			a.body()
		}
		t.Errorf("A RETR 1 after its lock died: %q, want -ERR [SYS/TEMP]", r)
	}
	if r := a.cmd("DELE 2"); r != "" {
		t.Errorf("A's session goes on after its lock died: DELE answered %q", r)
		a.cmd("QUIT")
	}

	if r := b.cmd("DELE 1"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("B DELE 1: %q", r)
	}
	if r := b.cmd("QUIT"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("B QUIT: %q", r)
	}

	// Exactly B's change was applied.
	left, _ := filepath.Glob(filepath.Join(mbox, "*.eml"))
	var names []string
	for _, p := range left {
		names = append(names, filepath.Base(p))
	}
	if strings.Join(names, " ") != "m2.eml m3.eml" {
		t.Errorf("messages left: %v, want m2.eml m3.eml", names)
	}
}
