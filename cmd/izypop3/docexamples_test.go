package main

import (
	"bufio"
	"bytes"
	"context"
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

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/crypto/bcrypt"

	"github.com/izyware/izypop3/internal/s3test"
	"github.com/izyware/izypop3/internal/testkit"
)

// docFiles are the documents whose examples TestDocExamples runs.
var docFiles = []string{"README.md", "docs/guide.md", "docs/seed.md"}

// docSkip lists the example commands TestDocExamples does not run, by
// prefix, each with the reason. Keep it short: an example not run here
// must be run somewhere else.
var docSkip = []struct{ prefix, why string }{
	{"go install ", "fetches from the network; .ci/install-check.sh runs go install on the clone"},
	{"make install", "installs into /usr/local; make install-check installs into a temporary DESTDIR and serves curl"},
	{"make run", "builds and serves on the fixed port 1110 until Ctrl-C; the same serverpop3 line is run here from README's Usage"},
	{"make test", "is the whole test suite, this test included"},
}

// docExample is one command of a sh block.
type docExample struct {
	file string
	line int
	cmd  string
}

// extractDocExamples returns the commands of the ```sh, ```shell and
// ```bash blocks of a Markdown file: one per line, a line ending in "\"
// joined with the next, "# comments" and blank lines dropped.
func extractDocExamples(t *testing.T, path string) []docExample {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []docExample
	in := false
	var cur strings.Builder
	start := 0
	for i, line := range strings.Split(string(data), "\n") {
		trim := strings.TrimSpace(line)
		if strings.HasPrefix(trim, "```") {
			lang := strings.TrimPrefix(trim, "```")
			if !in && (lang == "sh" || lang == "shell" || lang == "bash") {
				in = true
			} else if in {
				in = false
			}
			continue
		}
		if !in {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		cont := strings.HasSuffix(trim, "\\")
		cur.WriteString(strings.TrimSuffix(trim, "\\"))
		cur.WriteString(" ")
		if cont {
			continue
		}
		cmd := strings.TrimSpace(stripShellComment(cur.String()))
		cur.Reset()
		if cmd != "" {
			out = append(out, docExample{path, start, cmd})
		}
	}
	return out
}

// stripShellComment drops a "#" comment (a # at the start or after a
// blank, outside quotes).
func stripShellComment(s string) string {
	var q byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case q != 0:
			if c == q {
				q = 0
			}
		case c == '\'' || c == '"':
			q = c
		case c == '#' && (i == 0 || s[i-1] == ' ' || s[i-1] == '\t'):
			return s[:i]
		}
	}
	return s
}

// TestDocExamples runs every example command of README.md, docs/guide.md
// and docs/seed.md (except docSkip) with bash against the built binaries
// and requires each to exit 0. A command that starts a server
// (serverpop3, clientpop3 --interval) is started, must come up and keep
// running, and must exit 0 on SIGTERM.
//
// The examples name hosts, paths and ports of a real installation; the
// test runs them in a sandbox that stands in for one:
//   - pop.example.com and pop.secureserver.net are a fixture izypop3
//     server on 127.0.0.1 (fake store; users alice/12345, U/P and
//     user@domain/password; STLS and POP3S with a test CA that
//     $IZYPOP3_CA_FILE makes clientpop3 trust); port 995 and clientpop3's
//     default port are its POP3S port, and 1110 its plain port, except in
//     a server example, where 1110 is a free port;
//   - /srv/, /var/, /etc/izypop3/ and /tmp/ are under a temporary
//     directory, which is also the working directory (users.txt and
//     fetch.toml are there) and holds $HOME (with a Maildir for mpop);
//   - http://127.0.0.1:8333 and the cloud store's endpoint are an
//     in-process S3 server with the buckets mail and yyy.xxx;
//   - 127.0.0.1:9110 (--http-listen) is a free port;
//   - $P and $POP_PASS (--pass-env) hold U's password, and stdin is
//     "secret\n" (izypop3 passwd).
func TestDocExamples(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the doc examples start servers and stores")
	}
	root := filepath.Join("..", "..")
	sandbox := t.TempDir()
	home := filepath.Join(sandbox, "home")
	for _, d := range []string{
		"srv/mail", "var/backup/mail", "etc/izypop3", "tmp",
		"home/Maildir/new", "home/Maildir/cur", "home/Maildir/tmp",
	} {
		if err := os.MkdirAll(filepath.Join(sandbox, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var users strings.Builder
	for _, up := range [][2]string{{"alice", "12345"}, {"U", "P"}, {"user@domain", "password"}} {
		h, err := bcrypt.GenerateFromPassword([]byte(up[1]), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&users, "%s:%s\n", up[0], h)
	}
	for _, f := range []string{"users.txt", "etc/izypop3/users"} {
		if err := os.WriteFile(filepath.Join(sandbox, f), []byte(users.String()), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cert, key := filepath.Join(sandbox, "cert.pem"), filepath.Join(sandbox, "key.pem")
	writeCert(t, cert, key, "doc-examples")

	plain, pop3s := testkit.FreePort(t), testkit.FreePort(t)
	fixture := izyCmd(nil, "serverpop3",
		"--port", strconv.Itoa(plain), "--pop3s-port", strconv.Itoa(pop3s),
		"--tls-cert", cert, "--tls-key", key, "--users", filepath.Join(sandbox, "users.txt"),
		"--modhandler", "fake", "--auth-fail-delay", "0s")
	startCmd(t, fixture, plain)

	fetchToml := fmt.Sprintf(`[mimestore]
modhandler = "localfs"
path = %q

[account.work]
ip = "127.0.0.1"
tls = true
user = "U"
pass-env = "P"
`, filepath.Join(sandbox, "var/backup/mail"))
	if err := os.WriteFile(filepath.Join(sandbox, "fetch.toml"), []byte(fetchToml), 0o600); err != nil {
		t.Fatal(err)
	}

	s3srv := s3test.StartFake(t)
	for _, b := range []string{"mail", "yyy.xxx"} {
		if _, err := s3srv.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}

	paths := regexp.MustCompile(`(^|[\s=,'"])(/srv/|/var/|/etc/izypop3/|/tmp/)`)
	serverCmd := regexp.MustCompile(`^izypop3 (method )?serverpop3 `)
	env := append(os.Environ(),
		"IZYPOP3_PLUGIN_DIR=",
		"PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"HOME="+home,
		"P=P", "POP_PASS=P",
	)

	var ran int
	for _, file := range docFiles {
		for _, ex := range extractDocExamples(t, filepath.Join(root, file)) {
			name := fmt.Sprintf("%s:%d", file, ex.line)
			t.Run(name, func(t *testing.T) {
				t.Logf("example: %s", ex.cmd)
				for _, s := range docSkip {
					if strings.HasPrefix(ex.cmd, s.prefix) {
						t.Skipf("SKIP %q: %s", ex.cmd, s.why)
					}
				}
				if w := strings.Fields(ex.cmd)[0]; w != "izypop3" && w != "mkdir" {
					if _, err := exec.LookPath(w); err != nil {
						t.Skipf("SKIP: %s is not installed (.ci/install-deps.sh installs it)", w)
					}
				}
				server := (serverCmd.MatchString(ex.cmd) || strings.Contains(ex.cmd, "--interval")) &&
					!strings.Contains(ex.cmd, "||")
				port := plain
				if server {
					port = testkit.FreePort(t)
				}
				cmd := ex.cmd
				cmd = strings.NewReplacer(
					"pop.example.com", "127.0.0.1",
					"pop.secureserver.net", "127.0.0.1",
					"http://127.0.0.1:8333", s3srv.Endpoint,
					"127.0.0.1:9110", "127.0.0.1:"+strconv.Itoa(testkit.FreePort(t)),
				).Replace(cmd)
				cmd = regexp.MustCompile(`\b995\b`).ReplaceAllString(cmd, strconv.Itoa(pop3s))
				cmd = regexp.MustCompile(`\b1110\b`).ReplaceAllString(cmd, strconv.Itoa(port))
				cmd = paths.ReplaceAllString(cmd, "${1}"+sandbox+"${2}")
				t.Logf("runs as: %s", cmd)

				c := exec.Command("bash", "-c", cmd)
				c.Dir = sandbox
				c.Env = append([]string(nil), env...)
				if strings.Contains(cmd, "clientpop3") {
					c.Env = append(c.Env, "IZYPOP3_CA_FILE="+cert, "IZYPOP3_PORT="+strconv.Itoa(pop3s))
				}
				if server {
					c.Env = append(c.Env, "IZYPOP3_PORT="+strconv.Itoa(port))
				}
				if strings.Contains(cmd, "cloud") {
					c.Env = append(c.Env, "IZYPOP3_MIMESTORE_DATASERVICE="+s3srv.Endpoint,
						"IZYPOP3_MIMESTORE_ACCESSTOKEN="+s3srv.AccessKey+":"+s3srv.SecretKey)
				}
				c.Stdin = strings.NewReader("secret\n")
				if server {
					runDocServer(t, c, port, strings.Contains(cmd, "--interval"))
					return
				}
				var out testkit.SyncBuffer
				c.Stdout, c.Stderr = &out, &out
				if err := c.Start(); err != nil {
					t.Fatal(err)
				}
				if err := waitExit(c, 2*time.Minute); err != nil {
					t.Fatalf("%s: %v\n%s", cmd, err, out.String())
				}
			})
			ran++
		}
	}
	if ran < 20 {
		t.Fatalf("only %d examples found in %v: is the extraction broken?", ran, docFiles)
	}
}

// runDocServer starts a long-running example, checks that it comes up
// (a server listens on port; a daemon is still running after its first
// run) and that SIGTERM stops it with exit status 0.
func runDocServer(t *testing.T, c *exec.Cmd, port int, daemon bool) {
	t.Helper()
	var out testkit.SyncBuffer
	c.Stdout, c.Stderr = &out, &out
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	t.Cleanup(func() {
		syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
	})
	deadline := time.Now().Add(30 * time.Second)
	up := false
	for !up && time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("exited before it was up (%v):\n%s", err, out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if daemon {
			up = strings.Contains(out.String(), "fetched") || time.Until(deadline) < 25*time.Second
			continue
		}
		if cn, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
			r := bufio.NewReader(cn)
			cn.SetDeadline(time.Now().Add(5 * time.Second))
			greet, _ := r.ReadString('\n')
			cn.Close()
			if !strings.HasPrefix(greet, "+OK") {
				t.Fatalf("greeting %q", greet)
			}
			up = true
		}
	}
	if !up {
		t.Fatalf("not up after 30 s:\n%s", out.String())
	}
	// bash -c runs a single command by exec, so the pid is izypop3's.
	if err := c.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("SIGTERM: %v\n%s", err, out.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatalf("still running 40 s after SIGTERM:\n%s", out.String())
	}
	if bytes.Contains([]byte(out.String()), []byte(`"level":"ERROR"`)) {
		t.Errorf("an ERROR line:\n%s", out.String())
	}
}
