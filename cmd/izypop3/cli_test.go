package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/izyware/izypop3/internal/testkit"
)

// binDir holds izypop3 and the store plugins, built once for these tests.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "izypop3-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	for _, b := range [][2]string{
		{"izypop3", "github.com/izyware/izypop3/cmd/izypop3"},
		{"izypop3-store-fake", "github.com/izyware/izypop3/plugins/fake"},
		{"izypop3-store-localfs", "github.com/izyware/izypop3/plugins/localfs"},
	} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, b[0]), b[1]).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "go build %s: %v\n%s", b[1], err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// izyCmd is the built izypop3 with args and a clean plugin environment
// (IZYPOP3_PLUGIN_DIR empty: the plugins are found beside it), env added.
func izyCmd(env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(binDir, "izypop3"), args...)
	cmd.Env = append(append(os.Environ(), "IZYPOP3_PLUGIN_DIR="), env...)
	return cmd
}

// izypop3 runs the built binary with a clean plugin environment.
func izypop3(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return izypop3Env(t, nil, stdin, args...)
}

// izypop3Env is izypop3 with extra environment variables.
func izypop3Env(t *testing.T, env []string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := izyCmd(env, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run izypop3 %q: %v", args, err)
	}
	return o.String(), e.String(), code
}

// startServer starts izypop3 serverpop3 with args and waits until it
// accepts connections.
func startServer(t *testing.T, port int, args ...string) *exec.Cmd {
	t.Helper()
	return startServerEnv(t, nil, port, args...)
}

// startServerEnv is startServer with extra environment variables.
func startServerEnv(t *testing.T, env []string, port int, args ...string) *exec.Cmd {
	t.Helper()
	cmd := izyCmd(env, args...)
	startCmd(t, cmd, port)
	return cmd
}

// startCmd starts a prepared izypop3 server command and waits until it
// accepts connections on port. The returned buffer collects its output;
// read it only after the command has been waited for.
func startCmd(t *testing.T, cmd *exec.Cmd, port int) *bytes.Buffer {
	t.Helper()
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	launch(t, cmd, port, logs.String)
	return &logs
}

// launch starts cmd, its output already set, and waits until it accepts
// connections on port. At the end of the test it kills cmd (its process
// group too if it has one of its own) and, if the test failed, logs what
// output returns.
func launch(t *testing.T, cmd *exec.Cmd, port int, output func() string) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		if cmd.SysProcAttr != nil && cmd.SysProcAttr.Setpgid {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		cmd.Wait()
		if t.Failed() {
			t.Logf("server output:\n%s", output())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("server %q did not listen on %d", cmd.Args, port)
}

// waitExit waits up to d for the started cmd to exit and returns its exit
// error; a command still running after d is killed, and waitExit says so.
func waitExit(cmd *exec.Cmd, d time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		cmd.Process.Kill()
		<-done
		return fmt.Errorf("still running after %v (killed)", d)
	}
}

// pop3Session sends lines (one command each, no pipelining) on a new
// connection, closed at the end, and returns the greeting and the first
// line of each reply; a connection that ends early fails the test.
func pop3Session(t *testing.T, port int, cmds ...string) []string {
	t.Helper()
	p := dialPOP3(t, port)
	defer p.c.Close()
	if p.greeting == "" {
		t.Fatal("no greeting")
	}
	replies := []string{p.greeting}
	for _, cmd := range cmds {
		line := p.cmd(cmd)
		if line == "" {
			t.Fatalf("after %q: the connection ended", cmd)
		}
		replies = append(replies, line)
	}
	return replies
}

func TestVersion(t *testing.T) {
	out, _, code := izypop3(t, "", "version")
	if code != 0 || !strings.HasPrefix(out, "izypop3 ") || !strings.Contains(out, "store protocol 1") ||
		!strings.Contains(out, "\ncommit: ") || !strings.Contains(out, "\ngo: go1.") {
		t.Fatalf("version: code %d, output %q", code, out)
	}
	flag, _, code := izypop3(t, "", "--version")
	if code != 0 || flag != out {
		t.Errorf("--version: code %d, %q; want what version prints, %q", code, flag, out)
	}
	// make build stamps the commit and the build date.
	bin := filepath.Join(t.TempDir(), "izypop3")
	ld := "-X main.commit=0123456789abcdef -X main.buildDate=2026-01-02T03:04:05Z -X main.version=9.8.7"
	if b, err := exec.Command("go", "build", "-ldflags", ld, "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	b, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "izypop3 9.8.7\ncommit: 0123456789abcdef\nbuilt: 2026-01-02T03:04:05Z\n"; !strings.HasPrefix(string(b), want) {
		t.Errorf("stamped version:\n%s\nwant it to start with\n%s", b, want)
	}
}

// The seed's key-value form and the flag form start the same server.
func TestServerSeedFormEqualsFlagForm(t *testing.T) {
	p1, p2 := testkit.FreePort(t), testkit.FreePort(t)
	startServer(t, p1, "serverpop3", "port", strconv.Itoa(p1), "password", "12345", "mimestore.modhandler", "fake",
		"mimestore.count", "7", "auth-fail-delay", "10ms")
	startServer(t, p2, "serverpop3", "--port", strconv.Itoa(p2), "--password=12345", "--modhandler", "fake",
		"--mimestore.count=7", "--auth-fail-delay=10ms")
	r1 := pop3Session(t, p1, "USER alice", "PASS 12345", "STAT", "UIDL 7", "QUIT")
	r2 := pop3Session(t, p2, "USER alice", "PASS 12345", "STAT", "UIDL 7", "QUIT")
	if !strings.HasPrefix(r1[3], "+OK 7 ") {
		t.Fatalf("seed form STAT = %q, want 7 messages", r1[3])
	}
	for i := 1; i < len(r1); i++ {
		if r1[i] != r2[i] {
			t.Errorf("reply %d: seed form %q, flag form %q", i, r1[i], r2[i])
		}
	}
	bad := pop3Session(t, p1, "USER alice", "PASS wrong")
	if !strings.HasPrefix(bad[2], "-ERR [AUTH]") {
		t.Errorf("wrong password: %q, want -ERR [AUTH]", bad[2])
	}
}

func TestServerSIGTERMStopsCleanly(t *testing.T) {
	p := testkit.FreePort(t)
	cmd := startServer(t, p, "serverpop3", "--port", strconv.Itoa(p), "--password=x", "--shutdown-timeout=500ms")
	// An open session that never QUITs: shutdown must not wait past the
	// timeout for it.
	c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "USER a\r\nPASS x\r\n")
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := waitExit(cmd, 15*time.Second); err != nil {
		t.Fatalf("after SIGTERM: %v", err)
	}
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Errorf("server exited after %v, before the 500ms shutdown timeout with a session open", d)
	}
	if _, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), time.Second); err == nil {
		t.Error("port still accepting after exit")
	}
}

func TestFullClientServer(t *testing.T) {
	out, errOut, code := izypop3(t, "", "test", "testtype", "fullclientserver", "plugin-dir", binDir)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, name := range []string{"badlogin", "listandquit", "pop3failed", "retrsuccess", "pipelining", "delequit"} {
		if !strings.Contains(out, "PASS "+name+"\n") {
			t.Errorf("no PASS line for %s in:\n%s", name, out)
		}
	}
}

func TestMimestoreSeedForm(t *testing.T) {
	out, errOut, code := izypop3(t, "", "method", "test", "testtype", "mimestore", "mimestore.modhandler", "fake",
		"query.limit", "2", "query.tags", "unread", "plugin-dir", binDir)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	if !strings.Contains(out, "2 items listed") || !strings.Contains(out, "unread") || !strings.Contains(out, "99") {
		t.Errorf("unexpected listing:\n%s", out)
	}
}

func TestErrorsAreOneClearLine(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"serverpop3", "--modhandler", "nosuchstore", "--password", "x", "--port", "1"}, 2, "no izypop3-store-nosuchstore in " + binDir + " or on PATH; the stores found are cloud, fake, localfs"},
		{[]string{"serverpop3", "--password", "x", "--users", "f"}, 2, "exclude"},
		{[]string{"serverpop3", "--password", "x", "--port", "1", "--modhandler", "fake", "--mimestore.bogus=1"}, 2, `unknown key "mimestore.bogus" for store fake`},
		{[]string{"serverpop3", "--port", "abc"}, 2, "port"},
		{[]string{"serverpop3", "--password=x", "--on-dele=shred"}, 2, "on-dele"},
		{[]string{"test", "--testtype", "mimestore", "--mimestore.bogus=1", "--plugin-dir", binDir}, 2, `unknown key "mimestore.bogus" for store fake (it takes mimestore.count,`},
		{[]string{"test", "--testtype", "mimestore", "--modhandler", "localfs", "--mimestore.lay0ut=eml", "--mimestore.path", "/tmp", "--plugin-dir", binDir}, 2, `unknown key "mimestore.lay0ut" for store localfs (it takes mimestore.path, mimestore.layout)`},
		{[]string{"test", "--testtype", "mimestore", "--modhandler", "localfs", "--mimestore.path", "/nonexistent/h11", "--plugin-dir", binDir}, 2, `store "localfs": mimestore.path /nonexistent/h11 does not exist`},
		{[]string{"test", "--testtype", "mimestore", "--modhandler", "cloud", "--mimestore.tablename", "b", "--mimestore.accesstoken", "xxxx"}, 2, `izypop3: store "cloud": mimestore.accesstoken: want KEY:SECRET`},
		{[]string{"test", "--testtype", "nope"}, 2, "testtype"},
		{[]string{"version", "--mimestore.path=/x"}, 2, "mimestore"},
		{[]string{"serverpop3", "port"}, 2, "no value"},
		{[]string{"serverpop3", "prot", "1110"}, 2, `unknown option "prot" for serverpop3 (did you mean "port"?)`},
		{[]string{"method", "serverpop3", "prot", "1110"}, 2, `did you mean "port"?`},
		{[]string{"serve"}, 2, `unknown command "serve" (did you mean serverpop3?)`},
		{[]string{"passwd"}, 2, "arg"},
		{[]string{"version", "extra"}, 2, `unknown option "extra"`},
	}
	for _, tt := range tests {
		_, errOut, code := izypop3(t, "", tt.args...)
		if code != tt.code {
			t.Errorf("%q: exit %d, want %d (stderr %q)", tt.args, code, tt.code, errOut)
		}
		if !strings.Contains(errOut, tt.want) {
			t.Errorf("%q: stderr %q does not mention %q", tt.args, errOut, tt.want)
		}
		for _, rpc := range []string{"invalid argument", "rpc error", "code = ", "desc = "} {
			if strings.Contains(errOut, rpc) {
				t.Errorf("%q: RPC wording %q reaches the user: %q", tt.args, rpc, errOut)
			}
		}
		if n := strings.Count(strings.TrimSpace(errOut), "\n"); n > 0 && tt.code == 2 {
			t.Errorf("%q: usage error spans %d lines: %q", tt.args, n+1, errOut)
		}
	}
}

func TestPlugins(t *testing.T) {
	out, errOut, code := izypop3(t, "", "plugins", "--plugin-dir", binDir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"fake", "localfs", "configurer", "locker",
		"\nfake keys (", "  mimestore.count ", "  mimestore.mailbox.NAME.seed ", "\nlocalfs keys (", "  mimestore.path ", "  mimestore.layout "} {
		if !strings.Contains(out, want) {
			t.Errorf("plugins output lacks %q:\n%s", want, out)
		}
	}
}

func TestPasswd(t *testing.T) {
	out, errOut, code := izypop3(t, "s3cret\n", "passwd", "alice")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	name, hash, ok := strings.Cut(strings.TrimSpace(out), ":")
	if !ok || name != "alice" {
		t.Fatalf("passwd output %q", out)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte("s3cret")); err != nil {
		t.Errorf("hash does not verify: %v", err)
	}
	if strings.Contains(out+errOut, "s3cret") {
		t.Error("password echoed")
	}
	// The users file it writes serves logins.
	users := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(users, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	p := testkit.FreePort(t)
	startServer(t, p, "serverpop3", "--port", strconv.Itoa(p), "--users", users, "--auth-fail-delay=10ms")
	r := pop3Session(t, p, "USER alice", "PASS s3cret", "QUIT")
	if !strings.HasPrefix(r[2], "+OK") {
		t.Errorf("login with users file: %q", r[2])
	}
	if strings.Contains(r[0], "<") {
		t.Errorf("greeting %q offers APOP with a hashed users file", r[0])
	}
	r = pop3Session(t, p, "USER bob", "PASS s3cret")
	if !strings.HasPrefix(r[2], "-ERR [AUTH]") {
		t.Errorf("unknown user: %q", r[2])
	}
}

// The seed's mimestore.verbose turns on the store's debug log, for any
// store: every call the host makes is logged by the plugin.
func TestMimestoreVerbose(t *testing.T) {
	for _, store := range [][]string{{"fake"}, {"localfs", "mimestore.path", t.TempDir()}} {
		args := append([]string{"test", "testtype", "mimestore", "mimestore.modhandler"}, store...)
		args = append(args, "mimestore.verbose", "true", "plugin-dir", binDir, "log-format", "text")
		out, errOut, code := izypop3(t, "", args...)
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s%s", store[0], code, out, errOut)
		}
		for _, m := range []string{"GetInfo", "Configure", "Stat", "List"} {
			if !strings.Contains(errOut, `msg="store call"`) || !regexp.MustCompile(`msg="store call".* method=`+m+`\b`).MatchString(errOut) {
				t.Errorf("%s: no debug line for the %s call in:\n%s", store[0], m, errOut)
			}
		}
		// Without it, the store is quiet.
		_, errOut, _ = izypop3(t, "", append(args[:len(args)-6], "plugin-dir", binDir)...)
		if strings.Contains(errOut, "store call") {
			t.Errorf("%s: debug lines without mimestore.verbose:\n%s", store[0], errOut)
		}
	}
}
