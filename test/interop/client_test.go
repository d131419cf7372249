package interop

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/izyware/izypop3/internal/mailgen"
	"github.com/izyware/izypop3/internal/testkit"
	"github.com/izyware/izypop3/test/interop/dovecottest"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key
// into dir and returns their paths and the certificate's SHA-256.
func selfSigned(t *testing.T, dir string) (certPath, keyPath string, sum [32]byte) {
	t.Helper()
	c := testkit.NewCert(t, "127.0.0.1")
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	c.WriteFiles(t, certPath, keyPath)
	return certPath, keyPath, c.SHA256()
}

// needTLSDovecot starts a private Dovecot with STLS and POP3S on a
// self-signed certificate, and the SASL mechanisms the fetcher speaks.
func needTLSDovecot(t *testing.T) (*dovecottest.Server, string) {
	t.Helper()
	cert, key, sum := selfSigned(t, t.TempDir())
	s := needDovecotWith(t, dovecottest.Options{Password: testPassword, TLSCert: cert, TLSKey: key,
		Mechanisms: "plain login cram-md5 scram-sha-256", Extra: "auth_failure_delay = 0"})
	return s, "sha256:" + hex.EncodeToString(sum[:])
}

// clientpop3 runs izypop3 clientpop3 with args and returns its stdout; a
// non-zero exit fails the test.
func clientpop3(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := clientpop3Code(t, args...)
	if code != 0 {
		t.Fatalf("clientpop3 %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func clientpop3Code(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(needBinary(t, "izypop3"), append([]string{"clientpop3", "--plugin-dir", binDir}, args...)...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// storedMessages reads every message file of a localfs eml mailbox folder
// (unread only: the top folder).
func storedMessages(t *testing.T, dir string) [][]byte {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// sameMessages compares two sets of messages, ignoring order.
func sameMessages(t *testing.T, what string, got, want [][]byte) {
	t.Helper()
	key := func(ms [][]byte) []string {
		out := make([]string, len(ms))
		for i, m := range ms {
			sum := sha256.Sum256(m)
			out[i] = hex.EncodeToString(sum[:])
		}
		sort.Strings(out)
		return out
	}
	g, w := key(got), key(want)
	if len(g) != len(w) {
		t.Errorf("%s: %d messages, want %d", what, len(g), len(w))
		return
	}
	for i := range g {
		if g[i] != w[i] {
			t.Errorf("%s: the stored messages differ from those sent (first differing hash %s)", what, g[i])
			return
		}
	}
}

// maildirCount counts the messages in a Dovecot maildir.
func maildirCount(t *testing.T, md string) int {
	t.Helper()
	n := 0
	for _, d := range []string{"new", "cur"} {
		es, _ := os.ReadDir(filepath.Join(md, d))
		n += len(es)
	}
	return n
}

// TestClientpop3AgainstDovecot syncs a Maildir of 510 varied messages from
// Dovecot 2.3 into localfs over clear text, STLS and implicit TLS (the
// self-signed certificate pinned by --tls-fingerprint), checks the stored
// octets, that a second sync fetches nothing, and that --delete removes
// from Dovecot exactly what is stored.
func TestClientpop3AgainstDovecot(t *testing.T) {
	needBinary(t, "izypop3-store-localfs")
	s, fp := needTLSDovecot(t)
	const n = 510
	msgs := mailgen.Set(42, n, 2500)
	var want [][]byte
	for _, m := range msgs {
		want = append(want, mailgen.WireForm(m))
	}
	dots, noEOL := 0, 0
	for _, m := range msgs {
		if bytes.Contains(m, []byte("\n.")) {
			dots++
		}
		if !bytes.HasSuffix(m, []byte("\n")) {
			noEOL++
		}
	}
	if dots == 0 || noEOL == 0 {
		t.Fatalf("the set lacks dot lines (%d) or messages without a final newline (%d)", dots, noEOL)
	}
	for _, tc := range []struct {
		user string
		conn []string
	}{
		{"plain", []string{"--ip", "127.0.0.1", "--port", strconv.Itoa(s.Port)}},
		{"stls", []string{"--ip", "127.0.0.1", "--port", strconv.Itoa(s.Port), "--starttls", "--tls-fingerprint", fp}},
		{"pop3s", []string{"--ip", "127.0.0.1", "--port", strconv.Itoa(s.TLSPort), "--tls", "--tls-fingerprint", fp}},
	} {
		t.Run(tc.user, func(t *testing.T) {
			for i, m := range msgs {
				if err := s.WriteMaildir(tc.user, fmt.Sprintf("1700000000.M%dP1.izytest", i), m); err != nil {
					t.Fatal(err)
				}
			}
			root := t.TempDir()
			args := append(append([]string{}, tc.conn...), "--user", tc.user, "--pass", testPassword,
				"--modhandler", "localfs", "--mimestore.path", root)
			out := clientpop3(t, append(args, "--cmd", "sync")...)
			if !strings.HasPrefix(out, fmt.Sprintf("fetched %d ", n)) {
				t.Fatalf("first sync: %s", out)
			}
			sameMessages(t, "first sync", storedMessages(t, filepath.Join(root, tc.user)), want)
			if out := clientpop3(t, args...); !strings.HasPrefix(out, "fetched 0 ") || !strings.Contains(out, fmt.Sprintf("%d held", n)) {
				t.Errorf("second sync: %s", out)
			}
			if c := maildirCount(t, s.Maildir(tc.user)); c != n {
				t.Errorf("keep: Dovecot has %d messages, want %d", c, n)
			}
			if tc.user != "plain" {
				return
			}
			// A wrong pin is refused (exit 4) before anything is sent.
			_, errOut, code := clientpop3Code(t, "--ip", "127.0.0.1", "--port", strconv.Itoa(s.TLSPort), "--tls",
				"--tls-fingerprint", "sha256:"+strings.Repeat("00", 32), "--user", tc.user, "--pass", testPassword, "--cmd", "stat")
			if code != 4 || !strings.Contains(errOut, "not the pinned") {
				t.Errorf("wrong pin: exit %d, %s", code, errOut)
			}
		})
	}

	// --delete removes from Dovecot only what the store holds: a fresh
	// store, 200 fetched with --delete, then the rest.
	root := t.TempDir()
	args := []string{"--ip", "127.0.0.1", "--port", strconv.Itoa(s.Port), "--user", "plain", "--pass", testPassword,
		"--modhandler", "localfs", "--mimestore.path", root, "--mailbox", "moved"}
	out := clientpop3(t, append(args, "--delete", "--limit", "200")...)
	if !strings.HasPrefix(out, "fetched 200 ") || !strings.Contains(out, "200 deleted") {
		t.Fatalf("limited delete: %s", out)
	}
	if c := maildirCount(t, s.Maildir("plain")); c != n-200 {
		t.Errorf("Dovecot has %d messages after deleting the 200 stored, want %d", c, n-200)
	}
	stored := storedMessages(t, filepath.Join(root, "moved"))
	if len(stored) != 200 {
		t.Fatalf("%d stored", len(stored))
	}
	// What is left on Dovecot is exactly what is not stored.
	left := map[string]bool{}
	for _, d := range []string{"new", "cur"} {
		es, _ := os.ReadDir(filepath.Join(s.Maildir("plain"), d))
		for _, e := range es {
			b, _ := os.ReadFile(filepath.Join(s.Maildir("plain"), d, e.Name()))
			left[string(mailgen.WireForm(b))] = true
		}
	}
	for _, m := range stored {
		if left[string(m)] {
			t.Fatal("a stored message was not deleted from Dovecot")
		}
	}
	out = clientpop3(t, append(args, "--delete")...)
	if !strings.HasPrefix(out, fmt.Sprintf("fetched %d ", n-200)) {
		t.Errorf("delete the rest: %s", out)
	}
	if c := maildirCount(t, s.Maildir("plain")); c != 0 {
		t.Errorf("Dovecot still has %d messages", c)
	}
	sameMessages(t, "moved", storedMessages(t, filepath.Join(root, "moved")), want)
}

// TestClientpop3SASLAgainstDovecot logs in to Dovecot with each SASL
// mechanism it offers.
func TestClientpop3SASLAgainstDovecot(t *testing.T) {
	s, fp := needTLSDovecot(t)
	if err := s.WriteMaildir("sasl", "1700000000.M1P1.izytest", mailgen.Message(1, 0, 300)); err != nil {
		t.Fatal(err)
	}
	for _, mech := range []string{"user", "plain", "login", "cram-md5", "scram-sha-256", ""} {
		out, errOut, code := clientpop3Code(t, "--ip", "127.0.0.1", "--port", strconv.Itoa(s.TLSPort), "--tls", "--tls-fingerprint", fp,
			"--user", "sasl", "--pass", testPassword, "--auth", mech, "--cmd", "stat", "--debug")
		if code != 0 || !strings.HasPrefix(out, "1 messages") {
			t.Errorf("--auth %q: exit %d, %s %s", mech, code, out, errOut)
		}
		if strings.Contains(errOut, testPassword) {
			t.Errorf("--auth %q: the password appears in the --debug output", mech)
		}
		if mech == "" && !strings.Contains(errOut, "C: AUTH SCRAM-SHA-256") {
			t.Errorf("the default did not pick SCRAM-SHA-256:\n%s", errOut)
		}
		_, _, code = clientpop3Code(t, "--ip", "127.0.0.1", "--port", strconv.Itoa(s.TLSPort), "--tls", "--tls-fingerprint", fp,
			"--user", "sasl", "--pass", "wrong", "--auth", mech, "--cmd", "stat")
		if code != 3 {
			t.Errorf("--auth %q with a wrong password: exit %d, want 3", mech, code)
		}
	}
}

// TestClientpop3AgainstIzypop3 syncs izypop3's own server (fake store)
// into localfs and compares the octets with what the fake store holds.
func TestClientpop3AgainstIzypop3(t *testing.T) {
	needBinary(t, "izypop3-store-localfs")
	tg := fakeTarget(t, "fetchme")
	root := t.TempDir()
	args := []string{"--ip", "127.0.0.1", "--port", strconv.Itoa(tg.Port), "--user", tg.User, "--pass", tg.Pass,
		"--modhandler", "localfs", "--mimestore.path", root}
	out := clientpop3(t, args...)
	if !strings.HasPrefix(out, fmt.Sprintf("fetched %d ", len(tg.Msgs))) {
		t.Fatalf("sync: %s", out)
	}
	var want [][]byte
	for _, m := range tg.Msgs {
		want = append(want, m.Wire)
	}
	sameMessages(t, "izypop3 fake", storedMessages(t, filepath.Join(root, tg.User)), want)
	if out := clientpop3(t, args...); !strings.HasPrefix(out, "fetched 0 ") {
		t.Errorf("second sync: %s", out)
	}
}
