package interop

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/izyware/izypop3/internal/mailgen"
)

// storeFiles returns the hashes of every message file of a localfs eml
// mailbox, in any tag folder (tmp/ excluded), with the tag folder.
func storeFiles(t *testing.T, mbDir string) map[[32]byte][]string {
	t.Helper()
	out := map[[32]byte][]string{}
	filepath.Walk(mbDir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() || !strings.HasSuffix(p, ".eml") {
			return nil
		}
		rel, _ := filepath.Rel(mbDir, filepath.Dir(p))
		if rel == "tmp" {
			return nil // Put's temp files (and set-aside torn ones): never messages
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil // moved meanwhile
		}
		out[sha256.Sum256(b)] = append(out[sha256.Sum256(b)], rel)
		return nil
	})
	return out
}

// dovecotLeft returns the hashes (of the wire form) of the messages still
// in a Dovecot maildir.
func dovecotLeft(t *testing.T, md string) map[[32]byte]bool {
	t.Helper()
	out := map[[32]byte]bool{}
	for _, d := range []string{"new", "cur"} {
		es, _ := os.ReadDir(filepath.Join(md, d))
		for _, e := range es {
			b, err := os.ReadFile(filepath.Join(md, d, e.Name()))
			if err == nil {
				out[sha256.Sum256(mailgen.WireForm(b))] = true
			}
		}
	}
	return out
}

// childPIDs lists the child processes of pid.
func childPIDs(pid int) []int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, tk := range tasks {
		b, _ := os.ReadFile(tk)
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// TestClientpop3CrashExactlyOnce syncs 1000 messages from Dovecot into
// localfs with --delete and SIGKILLs izypop3, then the store plugin, at
// several points, rerunning each time. After every kill: no message is
// gone from Dovecot that the store does not hold (outside staged), and no
// message is held twice. At the end every message is held exactly once
// and Dovecot is empty.
func TestClientpop3CrashExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPING the 1000-message crash test in -short mode")
	}
	needBinary(t, "izypop3-store-localfs")
	s := needDovecot(t)
	const n = 1000
	msgs := mailgen.Set(77, n, 4000)
	want := map[[32]byte]bool{}
	for i, m := range msgs {
		if err := s.WriteMaildir("crash", fmt.Sprintf("1700000000.M%dP1.izytest", i), m); err != nil {
			t.Fatal(err)
		}
		want[sha256.Sum256(mailgen.WireForm(m))] = true
	}
	root := t.TempDir()
	mbDir := filepath.Join(root, "crash")
	args := []string{"clientpop3", "--plugin-dir", binDir, "--ip", "127.0.0.1", "--port", strconv.Itoa(s.Port),
		"--user", "crash", "--pass", testPassword, "--modhandler", "localfs", "--mimestore.path", root,
		"--delete", "--batch", "100", "--limit", "300", "--quiet"}

	check := func(when string, final bool) {
		t.Helper()
		held := storeFiles(t, mbDir)
		left := dovecotLeft(t, s.Maildir("crash"))
		for h, dirs := range held {
			if !want[h] {
				t.Errorf("%s: the store holds a message that was never sent (partial?) in %v", when, dirs)
			}
			if len(dirs) > 1 {
				t.Errorf("%s: a message is stored %d times: %v", when, len(dirs), dirs)
			}
		}
		for h := range want {
			dirs, ok := held[h]
			finished := ok && dirs[0] != "staged"
			if !left[h] && !finished {
				t.Fatalf("%s: a message was deleted from Dovecot that the store does not hold (store: %v)", when, dirs)
			}
			if final && !finished {
				t.Errorf("%s: a message is missing from the store (%v)", when, dirs)
			}
		}
		if final && len(left) != 0 {
			t.Errorf("%s: %d messages left on Dovecot", when, len(left))
		}
		t.Logf("%s: %d in the store, %d left on Dovecot", when, len(held), len(left))
	}

	// Each kill point: whom to kill, once the store holds this many files
	// more than at the start of the run (a run fetches at most 300, then
	// deletes on Dovecot what is stored: 300 is its last barrier or its
	// DELEs; "none" lets the run end).
	const never = 1 << 30
	kills := 0
	for i, kp := range []struct {
		target string
		after  int
	}{
		{"izypop3", 50},
		{"izypop3", 240},
		{"none", never},
		{"plugin", 120},
		{"izypop3", 150},
		{"none", never},
		{"plugin", 60},
		{"izypop3", 100},
	} {
		held := storeFiles(t, mbDir)
		before := len(held)
		// A run creates files only for the messages it fetches that the
		// store does not hold yet (staged leftovers are adopted, not
		// rewritten): kill at most half-way through those, so that a fast
		// run cannot end before the kill.
		left := dovecotLeft(t, s.Maildir("crash"))
		fresh := min(300, len(left))
		for h := range left {
			if _, ok := held[h]; ok {
				fresh--
			}
		}
		after := kp.after
		if kp.target != "none" {
			after = min(kp.after, max(fresh/2, 1))
		}
		cmd := exec.Command(needBinary(t, "izypop3"), args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		killed := false
		deadline := time.After(2 * time.Minute)
	wait:
		for {
			select {
			case <-done:
				break wait
			case <-deadline:
				cmd.Process.Kill()
				t.Fatalf("kill point %d: run did not end\n%s", i, out.String())
			case <-time.After(5 * time.Millisecond):
			}
			if killed || kp.target == "none" || len(storeFiles(t, mbDir))-before < after {
				continue
			}
			pid := cmd.Process.Pid
			if kp.target == "plugin" {
				kids := childPIDs(pid)
				if len(kids) == 0 {
					continue // between a plugin restart and the next: try again
				}
				pid = kids[0]
			}
			killed = true
			syscall.Kill(pid, syscall.SIGKILL)
		}
		if killed {
			kills++
		} else if kp.target != "none" {
			t.Logf("kill point %d: the run ended before the kill (%s)", i, strings.TrimSpace(out.String()))
		}
		check(fmt.Sprintf("after kill point %d (%s after %d)", i, kp.target, after), false)
	}
	// Under heavy load a run can still finish before the poll sees its
	// threshold; the checks above hold either way, so ask for most kills.
	if kills < 4 {
		t.Errorf("only %d of the 6 kills happened before their run ended", kills)
	}
	// Runs without kills finish the job.
	for r := 0; len(dovecotLeft(t, s.Maildir("crash"))) > 0; r++ {
		if r == 6 {
			t.Fatal("Dovecot not emptied by 6 runs after the kills")
		}
		cmd := exec.Command(needBinary(t, "izypop3"), args...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("final run: %v\n%s", err, out)
		}
	}
	check("at the end", true)
}
