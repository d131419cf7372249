package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/izyware/izypop3/internal/testkit"
)

// fakeServer starts izypop3 serverpop3 over the fake store (count
// messages per mailbox, password pass) and returns its port.
func fakeServer(t *testing.T, count int, pass string) int {
	t.Helper()
	p := testkit.FreePort(t)
	startServer(t, p, "serverpop3", "--port", strconv.Itoa(p), "--password", pass, "--modhandler", "fake",
		"--mimestore.count", strconv.Itoa(count), "--auth-fail-delay=1ms", "--plugin-dir", binDir)
	return p
}

func lines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func emlFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestClientSeedForms(t *testing.T) {
	p := fakeServer(t, 12, "12345")
	ps := strconv.Itoa(p)
	seedList, errOut, code := izypop3(t, "", "clientpop3", "ip", "127.0.0.1", "port", ps, "user", "alice", "pass", "12345", "tls", "false", "cmd", "list")
	if code != 0 || len(lines(seedList)) != 12 {
		t.Fatalf("seed list: exit %d, %q, %s", code, seedList, errOut)
	}
	flagList, _, code := izypop3(t, "", "clientpop3", "--ip", "127.0.0.1", "--port", ps, "--user", "alice", "--pass", "12345", "--cmd", "list")
	if code != 0 || flagList != seedList {
		t.Errorf("flag form list differs: %q vs %q", flagList, seedList)
	}
	// --host is --ip; method NAME is the subcommand.
	hostList, _, _ := izypop3(t, "", "method", "clientpop3", "host", "127.0.0.1", "port", ps, "user", "alice", "pass", "12345", "cmd", "list")
	if hostList != seedList {
		t.Errorf("method/host form list differs: %q", hostList)
	}
	for i, l := range lines(seedList) {
		f := strings.Split(l, "\t")
		if len(f) != 3 || f[0] != strconv.Itoa(i+1) {
			t.Errorf("list line %q", l)
		}
	}
	stat, _, code := izypop3(t, "", "clientpop3", "ip", "127.0.0.1", "port", ps, "user", "alice", "pass", "12345", "cmd", "stat")
	if code != 0 || !strings.HasPrefix(stat, "12 messages, ") {
		t.Errorf("stat: %d %q", code, stat)
	}

	// The seed's retr form into localfs, then a sync fetches the rest.
	root := t.TempDir()
	out, errOut, code := izypop3(t, "", "method", "clientpop3", "ip", "127.0.0.1", "port", ps, "user", "alice", "pass", "12345",
		"mimestore.modhandler", "localfs", "mimestore.path", root, "cmd", "retr", "query", "1-10")
	if code != 0 || !strings.HasPrefix(out, "fetched 10 ") {
		t.Fatalf("seed retr: exit %d, %q, %s", code, out, errOut)
	}
	if n := len(emlFiles(t, filepath.Join(root, "alice"))); n != 10 {
		t.Errorf("%d files after retr 1-10", n)
	}
	sync := []string{"clientpop3", "--ip", "127.0.0.1", "--port", ps, "--user", "alice", "--pass", "12345",
		"--modhandler", "localfs", "--mimestore.path", root}
	out, _, code = izypop3(t, "", append(sync, "--cmd", "sync")...)
	if code != 0 || !strings.HasPrefix(out, "fetched 2 ") || !strings.Contains(out, "10 held") {
		t.Errorf("sync: %d %q", code, out)
	}
	out, _, code = izypop3(t, "", sync...) // --cmd sync is the default
	if code != 0 || !strings.HasPrefix(out, "fetched 0 ") {
		t.Errorf("second sync: %d %q", code, out)
	}
	if n := len(emlFiles(t, filepath.Join(root, "alice"))); n != 12 {
		t.Errorf("%d files after the syncs, want 12", n)
	}
	out, _, _ = izypop3(t, "", append(sync, "--cmd", "list")...)
	if got := strings.Count(out, "\theld (unread)\n"); got != 12 {
		t.Errorf("list with the store: %d held, want 12:\n%s", got, out)
	}
}

func TestClientDryRunAndDelete(t *testing.T) {
	p := fakeServer(t, 5, "12345")
	root := t.TempDir()
	args := []string{"clientpop3", "--ip", "127.0.0.1", "--port", strconv.Itoa(p), "--user", "bob", "--pass", "12345",
		"--modhandler", "localfs", "--mimestore.path", root, "--mailbox", "backup"}
	out, _, code := izypop3(t, "", append(args, "--dry-run", "--delete")...)
	if code != 0 || strings.Count(out, "fetch\t") != 5 || strings.Count(out, "delete\t") != 5 ||
		!strings.Contains(out, "would fetch 5, would delete 5") {
		t.Fatalf("dry run: %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(root, "backup")); err == nil && len(emlFiles(t, filepath.Join(root, "backup"))) > 0 {
		t.Fatal("dry run stored messages")
	}
	out, _, code = izypop3(t, "", append(args, "--delete", "--verbose")...)
	if code != 0 || strings.Count(out, "stored\t") != 5 || strings.Count(out, "deleted\t") != 5 || !strings.Contains(out, "5 deleted") {
		t.Fatalf("delete: %d\n%s", code, out)
	}
	if n := len(emlFiles(t, filepath.Join(root, "backup"))); n != 5 {
		t.Errorf("%d files in the mailbox given by --mailbox", n)
	}
	stat, _, _ := izypop3(t, "", "clientpop3", "--ip", "127.0.0.1", "--port", strconv.Itoa(p), "--user", "bob", "--pass", "12345", "--cmd", "stat")
	if !strings.HasPrefix(stat, "0 messages") {
		t.Errorf("after --delete the server has %q", stat)
	}
}

func TestClientSecretsAndExitCodes(t *testing.T) {
	const secret = "s3cr3t-Pw"
	p := fakeServer(t, 3, secret)
	ps := strconv.Itoa(p)
	base := []string{"clientpop3", "--ip", "127.0.0.1", "--port", ps, "--user", "carol", "--cmd", "list", "--debug"}
	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte(secret+"\n"), 0o600)
	os.Setenv("IZYTEST_PW", secret)
	defer os.Unsetenv("IZYTEST_PW")
	for _, src := range [][]string{
		{"--pass-env", "IZYTEST_PW"},
		{"--pass-file", pwFile},
		{"--pass-command", "printf '%s\\n' " + secret},
	} {
		out, errOut, code := izypop3(t, "", append(base, src...)...)
		if code != 0 || len(lines(out)) != 3 {
			t.Errorf("%v: exit %d\n%s\n%s", src, code, out, errOut)
		}
		if strings.Contains(out+errOut, secret) {
			t.Errorf("%v: the secret appears in the output:\n%s\n%s", src, out, errOut)
		}
		if !strings.Contains(errOut, "C: APOP carol ****") && !strings.Contains(errOut, "C: PASS ****") &&
			!(strings.Contains(errOut, "C: AUTH ") && strings.Contains(errOut, "C: ****")) {
			t.Errorf("%v: no masked login in the --debug transcript:\n%s", src, errOut)
		}
	}
	root := t.TempDir()
	notDir := filepath.Join(root, "file")
	os.WriteFile(notDir, nil, 0o600)
	closed := testkit.FreePort(t)
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"wrong password", []string{"--ip", "127.0.0.1", "--port", ps, "--user", "u", "--pass", "wrong", "--cmd", "stat"}, exitAuth},
		{"wrong password, --auth user", []string{"--ip", "127.0.0.1", "--port", ps, "--user", "u", "--pass", "wrong", "--auth", "user", "--cmd", "stat"}, exitAuth},
		{"no server", []string{"--ip", "127.0.0.1", "--port", strconv.Itoa(closed), "--user", "u", "--pass", "x", "--cmd", "stat"}, exitNetwork},
		{"TLS to a clear-text server", []string{"--ip", "127.0.0.1", "--port", ps, "--tls", "--insecure", "--user", "u", "--pass", "x", "--cmd", "stat"}, exitNetwork},
		{"STLS not offered", []string{"--ip", "127.0.0.1", "--port", ps, "--starttls", "--user", "u", "--pass", "x", "--cmd", "stat"}, exitNetwork},
		{"store refuses its config", []string{"--ip", "127.0.0.1", "--port", ps, "--user", "u", "--pass", secret, "--modhandler", "localfs", "--mimestore.path", notDir}, exitUsage},
		{"store fails to start", []string{"--ip", "127.0.0.1", "--port", ps, "--user", "u", "--pass", secret, "--modhandler", "localfs", "--plugin-path", "/bin/true"}, exitStore},
		{"partial", []string{"--ip", "127.0.0.1", "--port", ps, "--user", "u", "--pass", secret, "--modhandler", "localfs", "--mimestore.path", root, "--cmd", "retr", "--query", "2,99"}, exitPartial},
		{"no --ip", []string{"--user", "u", "--pass", "x"}, exitUsage},
		{"no password", []string{"--ip", "h", "--user", "u"}, exitUsage},
		{"two passwords", []string{"--ip", "h", "--user", "u", "--pass", "x", "--pass-env", "Y"}, exitUsage},
		{"sync without store", []string{"--ip", "h", "--user", "u", "--pass", "x"}, exitUsage},
		{"retr without query", []string{"--ip", "h", "--user", "u", "--pass", "x", "--modhandler", "localfs", "--cmd", "retr"}, exitUsage},
		{"bad query", []string{"--ip", "h", "--user", "u", "--pass", "x", "--cmd", "retr", "--query", "3-1"}, exitUsage},
		{"tls and starttls", []string{"--ip", "h", "--user", "u", "--pass", "x", "--tls", "--starttls", "--cmd", "list"}, exitUsage},
		{"bad fingerprint", []string{"--ip", "h", "--user", "u", "--pass", "x", "--tls", "--tls-fingerprint", "md5:00", "--cmd", "list"}, exitUsage},
		{"keep and delete", []string{"--ip", "h", "--user", "u", "--pass", "x", "--keep", "--delete", "--cmd", "list"}, exitUsage},
		{"bad cmd", []string{"--ip", "h", "--user", "u", "--pass", "x", "--cmd", "fetch"}, exitUsage},
	} {
		out, errOut, code := izypop3(t, "", append([]string{"clientpop3"}, tc.args...)...)
		if code != tc.code {
			t.Errorf("%s: exit %d, want %d\n%s%s", tc.name, code, tc.code, out, errOut)
		}
	}
}

func TestClientIntervalStopsOnSIGTERM(t *testing.T) {
	p := fakeServer(t, 4, "12345")
	root := t.TempDir()
	cmd := izyCmd(nil, "clientpop3", "--ip", "127.0.0.1", "--port", strconv.Itoa(p),
		"--user", "dave", "--pass", "12345", "--modhandler", "localfs", "--mimestore.path", root, "--interval", "50ms", "--quiet")
	out, _ := os.CreateTemp(t.TempDir(), "out")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(emlFiles(t, filepath.Join(root, "dave"))) < 4 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // a few more runs that find nothing
	cmd.Process.Signal(syscall.SIGTERM)
	if err := waitExit(cmd, 15*time.Second); err != nil {
		b, _ := os.ReadFile(out.Name())
		t.Fatalf("after SIGTERM: %v\n%s", err, b)
	}
	if n := len(emlFiles(t, filepath.Join(root, "dave"))); n != 4 {
		t.Errorf("%d files, want 4 (each exactly once)", n)
	}
}

func TestParseQuery(t *testing.T) {
	for q, want := range map[string][]int{
		"3":        {3},
		"1-4":      {1, 2, 3, 4},
		"1,4,9-12": {1, 4, 9, 10, 11, 12},
		" 2 , 2-3": {2, 3},
	} {
		got, err := parseQuery(q)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%q: %v, %v; want %v", q, got, err, want)
		}
	}
	for _, q := range []string{"", "0", "-1", "a", "3-1", "1,,2", "1-2-3", "1-99999999"} {
		if _, err := parseQuery(q); err == nil {
			t.Errorf("%q accepted", q)
		}
	}
}

func TestParseFingerprint(t *testing.T) {
	hex64 := strings.Repeat("ab", 32)
	for _, s := range []string{"sha256:" + hex64, "SHA256:" + strings.ToUpper(hex64), "sha256:" + strings.TrimSuffix(strings.Repeat("ab:", 32), ":")} {
		if _, err := parseFingerprint(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{hex64, "sha256:" + hex64[:62], "sha1:" + hex64, "sha256:zz" + hex64[2:]} {
		if _, err := parseFingerprint(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}
