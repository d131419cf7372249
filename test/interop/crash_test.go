package interop

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/izyware/izypop3/internal/mailgen"
	"github.com/izyware/izypop3/internal/testkit"
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

// putLine is the debug log line izypop3 writes for each message the store
// took (core/fetch).
const putLine = `msg="message put in the store"`

// pluginOf returns the pid of the localfs store plugin izypop3 (pid) runs,
// 0 if none runs.
func pluginOf(pid int) int {
	for _, k := range testkit.Children(pid) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", k))
		if strings.Contains(string(b), "izypop3-store-localfs") {
			return k
		}
	}
	return 0
}

// TestClientpop3CrashExactlyOnce syncs 1000 messages from Dovecot into
// localfs with --delete and SIGKILLs izypop3, then the store plugin, at
// several points, rerunning each time. A kill is event-driven: izypop3
// runs with --debug, the test reads its log and kills on the Nth line of a
// message put in the store, while izypop3 waits to write the next line, so
// every kill lands where it is meant to and none is left to chance. After
// every kill: no message is gone from Dovecot that the store does not hold
// (outside staged), and no message is held twice. At the end every message
// is held exactly once and Dovecot is empty.
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
		"--delete", "--batch", "100", "--limit", "300"}

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

	// Each kill point: whom to kill, after how many messages put in the
	// store by the run (a run fetches at most 300, with a barrier every
	// 100: kills land before, between and after barriers, with staged
	// items left behind; "none" lets the run end and delete on Dovecot).
	for i, kp := range []struct {
		target string
		after  int
	}{
		{"izypop3", 50},
		{"izypop3", 240},
		{"none", 0},
		{"plugin", 120},
		{"izypop3", 150},
		{"plugin", 60},
		{"izypop3", 100},
	} {
		// The run puts every message on Dovecot the store does not hold
		// finished (staged leftovers are put again and adopted), at most
		// 300: a kill point beyond that is brought forward to 10 before the
		// run's last put, so that it is reached.
		held := storeFiles(t, mbDir)
		todo := 0
		for h := range dovecotLeft(t, s.Maildir("crash")) {
			if dirs, ok := held[h]; !ok || dirs[0] == "staged" {
				todo++
			}
		}
		after := min(kp.after, max(min(300, todo)-10, 1))
		cmd := exec.Command(needBinary(t, "izypop3"), append(args, "--debug")...)
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		var out testkit.SyncBuffer // the log, for failures
		cmd.Stdout = &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The reader counts put lines; at the kill point it stops reading
		// (izypop3 blocks on its next log line) until the kill is done.
		reached, resume := make(chan struct{}), make(chan struct{})
		drained := make(chan struct{})
		go func() {
			defer close(drained)
			sc := bufio.NewScanner(stderr)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			puts := 0
			for sc.Scan() {
				line := sc.Text()
				out.Write([]byte(line + "\n"))
				if kp.target == "none" || !strings.Contains(line, putLine) {
					continue
				}
				if puts++; puts == after {
					close(reached)
					<-resume
				}
			}
			io.Copy(io.Discard, stderr)
		}()
		deadline := time.NewTimer(2 * time.Minute)
		killed := false
		select {
		case <-reached:
			pid := cmd.Process.Pid
			if kp.target == "plugin" {
				if pid = pluginOf(pid); pid == 0 {
					t.Errorf("kill point %d: no store plugin runs after %d messages put", i, after)
				}
			}
			if pid != 0 {
				if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
					t.Errorf("kill point %d: kill %s (%d): %v", i, kp.target, pid, err)
				}
				killed = true
			}
			close(resume)
		case <-drained:
		case <-deadline.C:
			cmd.Process.Kill()
			close(resume)
			<-drained
			cmd.Wait()
			t.Fatalf("kill point %d: no kill after 2 min (%s after %d puts)\n%s", i, kp.target, after, tail(out.String()))
		}
		select {
		case <-drained:
		case <-deadline.C:
			cmd.Process.Kill()
			<-drained
			cmd.Wait()
			t.Fatalf("kill point %d: the run did not end within 2 min (%s killed after %d puts)\n%s", i, kp.target, after, tail(out.String()))
		}
		werr := cmd.Wait()
		deadline.Stop()
		switch {
		case kp.target == "none":
			if werr != nil {
				t.Errorf("kill point %d: the run without a kill failed: %v\n%s", i, werr, tail(out.String()))
			}
		case !killed:
			t.Errorf("kill point %d: the run ended (%v) before its %dth message put, the %s kill did not happen\n%s",
				i, werr, after, kp.target, tail(out.String()))
		case kp.target == "izypop3":
			ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
			if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Errorf("kill point %d: izypop3 ended with %v, not by the SIGKILL", i, werr)
			}
		case kp.target == "plugin":
			if werr == nil {
				t.Errorf("kill point %d: the run succeeded although its store plugin was killed after %d of its messages\n%s",
					i, after, tail(out.String()))
			}
		}
		check(fmt.Sprintf("after kill point %d (%s after %d)", i, kp.target, after), false)
	}
	// Runs without kills finish the job.
	for r := 0; len(dovecotLeft(t, s.Maildir("crash"))) > 0; r++ {
		if r == 6 {
			t.Fatal("Dovecot not emptied by 6 runs after the kills")
		}
		cmd := exec.Command(needBinary(t, "izypop3"), append(args, "--quiet")...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("final run: %v\n%s", err, out)
		}
	}
	check("at the end", true)
}

// tail is the end of a log, for a failure message.
func tail(s string) string {
	if len(s) > 4000 {
		return "..." + s[len(s)-4000:]
	}
	return s
}
