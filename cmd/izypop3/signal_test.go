package main

import (
	"bytes"
	"fmt"
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

// groupServer starts izypop3 in a process group of its own, as a service
// manager does, and waits for it to listen on port. Read the logs only
// after the command has been waited for.
func groupServer(t *testing.T, port int, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := izyCmd(nil, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd, startCmd(t, cmd, port)
}

// SIGTERM to the whole process group (what systemd and a terminal's Ctrl-C
// do) drains the sessions: the store plugin is in a group of its own, so it
// is not killed under them. An open session finishes its work, its QUIT
// updates the store, and the log has no ERROR and no plugin restart.
func TestSIGTERMProcessGroupDrains(t *testing.T) {
	root := t.TempDir()
	for i := 1; i <= 3; i++ {
		writeMessage(t, filepath.Join(root, "alice", fmt.Sprintf("m%d.eml", i)), i)
	}
	port := testkit.FreePort(t)
	cmd, logs := groupServer(t, port, "serverpop3", "--port", strconv.Itoa(port), "--password", "pw",
		"--modhandler", "localfs", "--mimestore.path", root, "--auth-fail-delay=1ms", "--log-format", "json", "--shutdown-timeout", "20s")
	s := dialPOP3(t, port)
	if r := s.cmd("USER alice"); !strings.HasPrefix(r, "+OK") {
		t.Fatal(r)
	}
	if r := s.cmd("PASS pw"); !strings.HasPrefix(r, "+OK") {
		t.Fatal(r)
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the signal has reached every process of the group
	// The open session goes on: the store answers.
	if r := s.cmd("RETR 1"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("RETR after SIGTERM: %q", r)
	}
	if body := s.body(); !strings.Contains(body, "body 1") {
		t.Fatalf("RETR 1 after SIGTERM: %q", body)
	}
	if r := s.cmd("DELE 2"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("DELE after SIGTERM: %q", r)
	}
	if r := s.cmd("QUIT"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("QUIT after SIGTERM: %q", r)
	}
	if err := waitExit(cmd, 20*time.Second); err != nil {
		t.Fatalf("after SIGTERM, no session left: %v", err)
	}
	// QUIT updated the store: message 2 was archived.
	if _, err := os.Stat(filepath.Join(root, "alice", "archive", "m2.eml")); err != nil {
		t.Errorf("DELE'd message not archived at QUIT: %v", err)
	}
	out := logs.String()
	for _, bad := range []string{`"level":"ERROR"`, "store plugin died", "store plugin restart"} {
		if strings.Contains(out, bad) {
			t.Errorf("log has %s:\n%s", bad, out)
		}
	}
	if !strings.Contains(out, `"msg":"stopped"`) {
		t.Errorf("no clean stop in the log:\n%s", out)
	}
}

func writeMessage(t *testing.T, path string, n int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	msg := fmt.Sprintf("From: a@example.com\r\nTo: alice@example.com\r\nSubject: %d\r\nMessage-ID: <%d@example.com>\r\n\r\nbody %d\r\n", n, n, n)
	if err := os.WriteFile(path, []byte(msg), 0o600); err != nil {
		t.Fatal(err)
	}
}
