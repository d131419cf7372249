package main

import (
	"bufio"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/izyware/izypop3/internal/testkit"
)

// writeCert writes a new self-signed certificate for 127.0.0.1 and its key
// as PEM files and returns the certificate's SHA-256 fingerprint.
func writeCert(t *testing.T, certPath, keyPath, name string) string {
	t.Helper()
	c := testkit.NewCert(t, name)
	c.WriteFiles(t, certPath, keyPath)
	sum := c.SHA256()
	return hex.EncodeToString(sum[:])
}

// writeUsers writes a users file of alice, bob and carol with bcrypt
// verifiers of pass.
func writeUsers(t *testing.T, path, pass string) {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, u := range []string{"alice", "bob", "carol"} {
		fmt.Fprintf(&b, "%s:%s\n", u, h)
	}
	replaceFile(t, path, b.String())
}

func replaceFile(t *testing.T, path, data string) {
	t.Helper()
	// A new file renamed over the old one, as editors and config
	// management do.
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// logServer starts izypop3 in a process group of its own with its output
// in a file the test may read while it runs (see logRecords).
func logServer(t *testing.T, port int, args ...string) (*exec.Cmd, string) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "server.log")
	out, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	cmd := izyCmd(nil, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout, cmd.Stderr = out, out
	launch(t, cmd, port, func() string {
		b, _ := os.ReadFile(logPath)
		return string(b)
	})
	return cmd, logPath
}

// logRecords parses the JSON log lines written so far.
func logRecords(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var recs []map[string]any
	for _, l := range strings.Split(string(b), "\n") {
		var r map[string]any
		if json.Unmarshal([]byte(l), &r) == nil {
			recs = append(recs, r)
		}
	}
	return recs
}

// withMsg returns the records whose message starts with prefix.
func withMsg(recs []map[string]any, prefix string) []map[string]any {
	var out []map[string]any
	for _, r := range recs {
		if m, _ := r["msg"].(string); strings.HasPrefix(m, prefix) {
			out = append(out, r)
		}
	}
	return out
}

// hup sends SIGHUP to the server and waits for its n-th "reloaded" line.
func hup(t *testing.T, cmd *exec.Cmd, logPath string, n int) []map[string]any {
	t.Helper()
	if err := syscall.Kill(cmd.Process.Pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		recs := logRecords(t, logPath)
		if len(withMsg(recs, "reloaded")) >= n {
			return recs
		}
		if time.Now().After(deadline) {
			t.Fatalf("no reload %d within 20 s of SIGHUP", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// dialPOP3S opens an implicit-TLS connection and returns it with the
// fingerprint of the certificate the server presented.
func dialPOP3S(t *testing.T, port int) (*popConn, string) {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp",
		net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(60 * time.Second))
	sum := sha256.Sum256(c.ConnectionState().PeerCertificates[0].Raw)
	p := &popConn{t: t, c: c, r: bufio.NewReader(c)}
	p.line()
	return p, hex.EncodeToString(sum[:])
}

// login runs USER/PASS and returns PASS's reply.
func (p *popConn) login(user, pass string) string {
	if r := p.cmd("USER " + user); !strings.HasPrefix(r, "+OK") {
		return r
	}
	return p.cmd("PASS " + pass)
}

// tryLogin logs carol in on a new connection, QUITs, and returns PASS's
// reply.
func tryLogin(t *testing.T, port int, pass string) string {
	p := dialPOP3(t, port)
	r := p.login("carol", pass)
	p.cmd("QUIT")
	return r
}

// retr checks that RETR n works and returns the message.
func (p *popConn) retr(n int) string {
	p.t.Helper()
	if r := p.cmd(fmt.Sprintf("RETR %d", n)); !strings.HasPrefix(r, "+OK") {
		p.t.Fatalf("RETR %d: %q", n, r)
	}
	return p.body()
}

// SIGHUP under a running server (a real signal to the built binary): the
// users file and the certificate were replaced, so new logins see the new
// password and the old one fails, new TLS connections get the new
// certificate, and the sessions opened before (plain and TLS) go on. A
// broken users file then keeps the one in force, with one ERROR line;
// settings that cannot change at run time are named; a config file that
// does not parse keeps everything.
func TestSIGHUPReload(t *testing.T) {
	dir, root := t.TempDir(), t.TempDir()
	for i := 1; i <= 2; i++ {
		writeMessage(t, filepath.Join(root, "alice", fmt.Sprintf("m%d.eml", i)), i)
		writeMessage(t, filepath.Join(root, "bob", fmt.Sprintf("m%d.eml", i)), i)
	}
	users := filepath.Join(dir, "users")
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeUsers(t, users, "old-secret")
	fpOld := writeCert(t, certPath, keyPath, "old")
	conf := filepath.Join(dir, "izypop3.toml")
	config := func(listen, extra string) {
		replaceFile(t, conf, fmt.Sprintf("listen = %q\nusers = %q\ntls-cert = %q\ntls-key = %q\nmodhandler = \"localfs\"\n"+
			"log-format = \"json\"\nauth-fail-delay = \"1ms\"\n%s\n[mimestore]\npath = %q\n", listen, users, certPath, keyPath, extra, root))
	}
	config("127.0.0.1", "")
	port, sport := testkit.FreePort(t), testkit.FreePort(t)
	cmd, logPath := logServer(t, port, "serverpop3", "--config", conf, "--port", strconv.Itoa(port),
		"--pop3s-port", strconv.Itoa(sport))

	// Sessions opened before the reload: one plain, one TLS.
	plain := dialPOP3(t, port)
	if r := plain.login("alice", "old-secret"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("login before reload: %q", r)
	}
	secure, fp := dialPOP3S(t, sport)
	if fp != fpOld {
		t.Fatalf("certificate before reload %s, want %s", fp, fpOld)
	}
	if r := secure.login("bob", "old-secret"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("TLS login before reload: %q", r)
	}

	writeUsers(t, users, "new-secret")
	fpNew := writeCert(t, certPath, keyPath, "new")
	recs := hup(t, cmd, logPath, 1)
	if len(withMsg(recs, "reload: users file changed")) != 1 {
		t.Error("no log line for the changed users file")
	}
	if c := withMsg(recs, "reload: TLS certificate changed"); len(c) != 1 || c[0]["sha256"] != fpNew || c[0]["previous_sha256"] != fpOld {
		t.Errorf("log lines for the changed certificate: %v", c)
	}

	if r := tryLogin(t, port, "old-secret"); !strings.HasPrefix(r, "-ERR") {
		t.Errorf("old password after reload: %q, want -ERR", r)
	}
	if r := tryLogin(t, port, "new-secret"); !strings.HasPrefix(r, "+OK") {
		t.Errorf("new password after reload: %q, want +OK", r)
	}
	s2, fp := dialPOP3S(t, sport)
	if fp != fpNew {
		t.Errorf("certificate of a new TLS connection after reload %s, want the new %s (old %s)", fp, fpNew, fpOld)
	}
	if r := s2.login("carol", "new-secret"); !strings.HasPrefix(r, "+OK") {
		t.Errorf("TLS login with the new password: %q", r)
	}
	s2.cmd("QUIT")
	// The sessions of before go on.
	if body := plain.retr(1); !strings.Contains(body, "body 1") {
		t.Errorf("RETR 1 of the plain session after reload: %q", body)
	}
	if body := secure.retr(2); !strings.Contains(body, "body 2") {
		t.Errorf("RETR 2 of the TLS session after reload: %q", body)
	}

	// A broken users file and settings that need a restart.
	replaceFile(t, users, "alice:not-a-verifier\n")
	config("127.0.0.2", "idle-timeout = \"20m\"\n")
	recs = hup(t, cmd, logPath, 2)
	var errs []map[string]any
	for _, r := range recs {
		if r["level"] == "ERROR" {
			errs = append(errs, r)
		}
	}
	if len(errs) != 1 || !strings.HasPrefix(errs[0]["msg"].(string), "reload: the users file does not load") {
		t.Errorf("ERROR lines after a broken users file: %v, want one", errs)
	}
	if w := withMsg(recs, "reload: changed settings that need a restart"); len(w) != 1 || w[0]["needs_restart"] != "--idle-timeout --listen" {
		t.Errorf("needs-restart lines: %v, want one naming --idle-timeout --listen", w)
	}
	if r := tryLogin(t, port, "new-secret"); !strings.HasPrefix(r, "+OK") {
		t.Errorf("login after a broken users file: %q, want the users file in force", r)
	}

	// A config file that does not parse keeps everything.
	writeUsers(t, users, "third")
	replaceFile(t, conf, "nosuchkey = 1\n")
	recs = hup(t, cmd, logPath, 2)
	deadline := time.Now().Add(20 * time.Second)
	for len(withMsg(recs, "reload: the settings do not load")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no log line for a config file that does not parse")
		}
		time.Sleep(20 * time.Millisecond)
		recs = logRecords(t, logPath)
	}
	if r := tryLogin(t, port, "new-secret"); !strings.HasPrefix(r, "+OK") {
		t.Errorf("login after a broken config file: %q, want the users file in force", r)
	}

	// Still a clean stop, with the sessions of before finished by QUIT.
	plain.cmd("QUIT")
	secure.cmd("QUIT")
	if err := syscall.Kill(cmd.Process.Pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := waitExit(cmd, 20*time.Second); err != nil {
		t.Errorf("after SIGTERM: %v", err)
	}
}

// SIGHUP with --password-file: the file is read again; new logins need the
// new password.
func TestSIGHUPPasswordFile(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "password")
	replaceFile(t, pwFile, "first\n")
	port := testkit.FreePort(t)
	cmd, logPath := logServer(t, port, "serverpop3", "--port", strconv.Itoa(port), "--password-file", pwFile,
		"--modhandler", "fake", "--auth-fail-delay=1ms", "--log-format", "json")
	if r := tryLogin(t, port, "first"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("login before reload: %q", r)
	}
	replaceFile(t, pwFile, "second\n")
	recs := hup(t, cmd, logPath, 1)
	if len(withMsg(recs, "reload: password changed")) != 1 {
		t.Error("no log line for the changed password")
	}
	if r := tryLogin(t, port, "first"); !strings.HasPrefix(r, "-ERR") {
		t.Errorf("old password after reload: %q, want -ERR", r)
	}
	if r := tryLogin(t, port, "second"); !strings.HasPrefix(r, "+OK") {
		t.Errorf("new password after reload: %q, want +OK", r)
	}
	if b, _ := os.ReadFile(logPath); strings.Contains(string(b), "second") || strings.Contains(string(b), "first") {
		t.Errorf("the log shows a password:\n%s", b)
	}
}
