// Package interop runs the real izypop3 binaries against real POP3 peers
// (curl, Python poplib, mpop, fetchmail) and against Dovecot 2.3. See
// docs/interop.md for what each test does and how each client normalises
// what it downloads.
//
// Binaries: by default TestMain builds cmd/izypop3 and the store plugins
// with `go build` into a temporary directory, so the tests always run the
// code of this work tree. If IZYPOP3_BIN is set to a directory (for example
// bin after `make build`; a relative path is relative to the repository
// root), the binaries there are used instead.
//
// A missing peer program skips its test with a loud message; with CI=true it
// fails instead (.ci/install-deps.sh installs all of them).
package interop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/izyware/izypop3/internal/testkit"
)

const (
	// testPassword is the --password every izypop3 test server uses.
	testPassword = "12345"
	// serverStartTimeout bounds the wait for a server's greeting.
	serverStartTimeout = 30 * time.Second
	// serverStopTimeout is the wait after SIGTERM before SIGKILL.
	serverStopTimeout = 15 * time.Second
	// peerTimeout bounds one run of a peer program.
	peerTimeout = 2 * time.Minute
)

var (
	binDir   string // directory holding izypop3 and izypop3-store-*
	buildErr = map[string]error{}
	repoRoot string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	if d := os.Getenv("IZYPOP3_BIN"); d != "" {
		// go test runs in the package directory: a relative path is
		// taken relative to the repository root (IZYPOP3_BIN=bin).
		if !filepath.IsAbs(d) {
			d = filepath.Join(repoRoot, d)
		}
		binDir = d
		fmt.Fprintf(os.Stderr, "interop: using binaries in IZYPOP3_BIN=%s\n", binDir)
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "izypop3-interop-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "interop:", err)
		return 2
	}
	defer os.RemoveAll(dir)
	binDir = dir
	for _, b := range []struct{ out, pkg string }{
		{"izypop3", "./cmd/izypop3"},
		{"izypop3-store-fake", "./plugins/fake"},
		{"izypop3-store-localfs", "./plugins/localfs"},
		{"izypop3-store-cloud", "./plugins/cloud"},
	} {
		if !hasGoFiles(filepath.Join(repoRoot, b.pkg)) {
			buildErr[b.out] = errNotWritten
			fmt.Fprintf(os.Stderr, "interop: %s has no Go files yet: tests that need %s will be SKIPPED\n", b.pkg, b.out)
			continue
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, b.out), b.pkg)
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr[b.out] = fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
		}
	}
	return m.Run()
}

var errNotWritten = errors.New("package not written yet")

func hasGoFiles(dir string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	return len(m) > 0
}

// needBinary returns the path of a built binary, skipping the test if its
// package does not exist yet and failing it if the build failed.
func needBinary(t testing.TB, name string) string {
	t.Helper()
	if err := buildErr[name]; err != nil {
		if errors.Is(err, errNotWritten) && os.Getenv("CI") != "true" {
			t.Skipf("SKIPPING %s: %s is not written yet", t.Name(), name)
		}
		t.Fatal(err)
	}
	p := filepath.Join(binDir, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return p
}

// needPeer returns the path of a peer program: a loud skip when it is
// missing, a failure under CI=true.
func needPeer(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	testkit.PeerMissing(t, fmt.Sprintf("%s not found (%v); run .ci/install-deps.sh", name, err), requiredByCI())
	return ""
}

// requiredByCI is what requires the peers here: CI=true, or nothing.
func requiredByCI() string {
	if os.Getenv("CI") == "true" {
		return "CI=true"
	}
	return ""
}

// izyServer is a running izypop3 serverpop3 process.
type izyServer struct {
	Port int
	cmd  *exec.Cmd
	out  *testkit.SyncBuffer
	done chan error
}

// startIzypop3 runs `izypop3 serverpop3` on a free port with the test
// password, the plugin directory of the built binaries and extra args; the
// server is stopped (SIGTERM) at the end of the test and its log printed if
// the test failed.
func startIzypop3(t testing.TB, extra ...string) *izyServer {
	t.Helper()
	return startIzypop3Args(t, append([]string{"--password", testPassword}, extra...))
}

// startIzypop3Args is startIzypop3 with no --password of its own.
func startIzypop3Args(t testing.TB, extra []string) *izyServer {
	t.Helper()
	bin := needBinary(t, "izypop3")
	port := testkit.FreePort(t)
	args := append([]string{"serverpop3", "--listen", "127.0.0.1", "--port", strconv.Itoa(port),
		"--plugin-dir", binDir}, extra...)
	s := &izyServer{Port: port, out: &testkit.SyncBuffer{}, done: make(chan error, 1)}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout = s.out
	s.cmd.Stderr = s.out
	testkit.DieWithParent(s.cmd, syscall.SIGKILL)
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() {
			t.Logf("izypop3 %s\n--- server log ---\n%s", strings.Join(args, " "), s.out.String())
		}
	})
	deadline := time.Now().Add(serverStartTimeout)
	for {
		if err := testkit.Greeting(testkit.Addr(port)); err == nil {
			return s
		}
		select {
		case err := <-s.done:
			s.done <- err
			t.Fatalf("izypop3 exited at start: %v\n%s", err, s.out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("izypop3 gave no greeting within %v\n%s", serverStartTimeout, s.out.String())
		}
	}
}

// stop sends SIGTERM and waits for the exit, unless the server has exited
// already (on its own, or stopped before). Whether it has is told by done,
// never by cmd.ProcessState, which the goroutine in cmd.Wait writes.
func (s *izyServer) stop(t testing.TB) {
	select {
	case err := <-s.done:
		s.done <- err
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		s.done <- err
	case <-time.After(serverStopTimeout):
		t.Errorf("izypop3 did not stop within %v of SIGTERM; killing", serverStopTimeout)
		s.cmd.Process.Kill()
		s.done <- <-s.done
	}
}

// runPeer runs a peer program with a timeout and returns its stdout;
// stderr goes into the error (and the test log on failure).
func runPeer(t testing.TB, env []string, name string, args ...string) []byte {
	t.Helper()
	out, err := runPeerErr(env, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// runPeerErr is runPeer returning the error (with stderr) instead of
// failing the test.
func runPeerErr(env []string, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), peerTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %s: %v\nstderr:\n%s\nstdout:\n%.2000s", name, strings.Join(args, " "), err, stderr.String(), stdout.String())
	}
	return stdout.Bytes(), nil
}

// crlfToLF turns every CRLF into LF: the form mpop and fetchmail (with an
// MDA) write messages in.
func crlfToLF(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")) }

// topForm is what TOP n lines returns (unstuffed): the header, the empty
// line and at most lines body lines of a message in wire form.
func topForm(wire []byte, lines int) []byte {
	i := bytes.Index(wire, []byte("\r\n\r\n"))
	if i < 0 {
		return wire // no body: the whole message is header
	}
	end := i + 4
	for n := 0; n < lines && end < len(wire); n++ {
		j := bytes.Index(wire[end:], []byte("\r\n"))
		if j < 0 {
			end = len(wire)
			break
		}
		end += j + 2
	}
	return wire[:end]
}
