package interop

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/izyware/izypop3/core/auth"
	"github.com/izyware/izypop3/internal/testkit"
)

// Credentials of the TLS/SASL targets.
const (
	goodToken = "good-token-7f3a"
	badToken  = "bad-token"
	// failDelay is the --auth-fail-delay of the targets: a refused login
	// must not be answered sooner.
	failDelay = 400 * time.Millisecond
)

// mpopFingerprint is a certificate's SHA-256 in mpop's form (AA:BB:...).
func mpopFingerprint(sum [32]byte) string {
	hexes := make([]string, len(sum))
	for i, b := range sum {
		hexes[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(hexes, ":")
}

// tlsTarget is a running izypop3 with STLS, POP3S and SASL.
type tlsTarget struct {
	target
	PopsPort    int
	CertFile    string
	Fingerprint string
}

// startTLSTarget starts izypop3 with the fake store, STLS on the POP3 port,
// POP3S on another, bearer tokens checked by a command that accepts only
// goodToken, and either --password (users == "") or a users file holding
// users (name → password, SCRAM-SHA-256 verifiers).
func startTLSTarget(t *testing.T, mailbox string, users map[string]string, extra ...string) tlsTarget {
	t.Helper()
	needBinary(t, "izypop3-store-fake")
	dir := t.TempDir()
	cert, key, sum := selfSigned(t, dir)
	check := filepath.Join(dir, "check-token")
	script := "#!/bin/sh\nread user\nread token\n[ \"$token\" = " + goodToken + " ] || exit 1\n"
	if err := os.WriteFile(check, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	pops := testkit.FreePort(t)
	args := append(fakeArgs(), "--tls-cert", cert, "--tls-key", key, "--pop3s-port", strconv.Itoa(pops),
		"--oauth-check-command", check, "--auth-fail-delay", failDelay.String(), "--max-auth-fail-delay", failDelay.String())
	args = append(args, extra...)
	pass := testPassword
	if users != nil {
		var lines []string
		for u, pw := range users {
			v, err := auth.HashPasswordScheme(auth.SchemeSCRAMSHA256, pw)
			if err != nil {
				t.Fatal(err)
			}
			lines = append(lines, u+":"+v)
			pass = pw
		}
		uf := filepath.Join(dir, "users")
		os.WriteFile(uf, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
		args = append(args, "--users", uf)
	}
	var srv *izyServer
	if users == nil {
		srv = startIzypop3(t, args...)
	} else {
		srv = startIzypop3Args(t, args)
	}
	return tlsTarget{
		target: target{Name: "izypop3-fake-tls", Port: srv.Port, User: mailbox, Pass: pass,
			Msgs: fakeExpected(t, mailbox), Ordered: true},
		PopsPort: pops, CertFile: cert, Fingerprint: mpopFingerprint(sum),
	}
}

// curlRetrAll downloads every message of tg with one curl run over
// urlBase ("pop3s://127.0.0.1:PORT/") with the given options and compares
// the bytes with the expected maildrop.
func curlRetrAll(t *testing.T, tg tlsTarget, urlBase string, opts ...string) {
	t.Helper()
	curl := needPeer(t, "curl")
	dir := t.TempDir()
	args := append([]string{"-sS", "--max-time", "60", "--cacert", tg.CertFile}, opts...)
	for n := 1; n <= len(tg.Msgs); n++ {
		args = append(args, urlBase+strconv.Itoa(n), "-o", filepath.Join(dir, strconv.Itoa(n)))
	}
	runPeer(t, nil, curl, args...)
	got := make([][]byte, len(tg.Msgs))
	for n := range got {
		b, err := os.ReadFile(filepath.Join(dir, strconv.Itoa(n+1)))
		if err != nil {
			t.Fatal(err)
		}
		got[n] = b
	}
	matchAll(t, "curl "+strings.Join(opts, " "), tg.target, got, func(b []byte) []byte { return b })
}

// curlRefused runs curl with opts for message 1 and checks it fails with
// -ERR [AUTH] from the server, no sooner than failDelay.
func curlRefused(t *testing.T, tg tlsTarget, url string, opts ...string) {
	t.Helper()
	curl := needPeer(t, "curl")
	args := append([]string{"-v", "--max-time", "60", "--cacert", tg.CertFile, "-o", os.DevNull}, opts...)
	start := time.Now()
	out, err := exec.Command(curl, append(args, url)...).CombinedOutput()
	took := time.Since(start)
	if err == nil {
		t.Fatalf("curl %s: logged in with bad credentials", strings.Join(opts, " "))
	}
	if !bytes.Contains(out, []byte("< -ERR [AUTH]")) {
		t.Errorf("curl %s: no -ERR [AUTH] from the server:\n%s", strings.Join(opts, " "), out)
	}
	if took < failDelay {
		t.Errorf("curl %s: refused after %v, before the %v delay", strings.Join(opts, " "), took, failDelay)
	}
	for i, o := range opts {
		// curl really ran the mechanism asked for.
		if o == "--login-options" && !bytes.Contains(out, []byte("> AUTH "+strings.TrimPrefix(opts[i+1], "AUTH="))) {
			t.Errorf("curl %s did not send AUTH %s:\n%s", strings.Join(opts, " "), opts[i+1], out)
		}
	}
}

// TestTLSCurl: curl over POP3S and over STLS (--ssl-reqd), with USER/PASS
// and each SASL mechanism curl has: PLAIN, LOGIN, CRAM-MD5, OAUTHBEARER and
// XOAUTH2 (--oauth2-bearer). Downloads are byte-identical; wrong
// credentials get -ERR [AUTH] after the delay.
func TestTLSCurl(t *testing.T) {
	tg := startTLSTarget(t, "tlscurl", nil)
	pops := fmt.Sprintf("pop3s://127.0.0.1:%d/", tg.PopsPort)
	stls := fmt.Sprintf("pop3://127.0.0.1:%d/", tg.Port)
	userPass := tg.User + ":" + tg.Pass
	t.Run("pop3s", func(t *testing.T) { curlRetrAll(t, tg, pops, "-u", userPass) })
	t.Run("stls", func(t *testing.T) { curlRetrAll(t, tg, stls, "--ssl-reqd", "-u", userPass) })
	for _, mech := range []string{"PLAIN", "LOGIN", "CRAM-MD5"} {
		t.Run(mech, func(t *testing.T) {
			curlRetrAll(t, tg, pops, "-u", userPass, "--login-options", "AUTH="+mech)
			curlRefused(t, tg, pops+"1", "-u", tg.User+":wrong", "--login-options", "AUTH="+mech)
		})
	}
	for _, mech := range []string{"OAUTHBEARER", "XOAUTH2"} {
		t.Run(mech, func(t *testing.T) {
			tg := tg
			if mech == "XOAUTH2" {
				// curl 7.88 picks OAUTHBEARER whenever the server offers
				// it, AUTH=XOAUTH2 or not: offer XOAUTH2 without it.
				tg = startTLSTarget(t, "tlscurl", nil, "--sasl-mechanisms", "XOAUTH2,PLAIN")
			}
			pops := fmt.Sprintf("pop3s://127.0.0.1:%d/", tg.PopsPort)
			stls := fmt.Sprintf("pop3://127.0.0.1:%d/", tg.Port)
			curlRetrAll(t, tg, pops, "-u", tg.User+":", "--oauth2-bearer", goodToken, "--login-options", "AUTH="+mech)
			curlRetrAll(t, tg, stls, "--ssl-reqd", "-u", tg.User+":", "--oauth2-bearer", goodToken, "--login-options", "AUTH="+mech)
			curlRefused(t, tg, pops+"1", "-u", tg.User+":", "--oauth2-bearer", badToken, "--login-options", "AUTH="+mech)
		})
	}
	t.Run("wrong-password", func(t *testing.T) { curlRefused(t, tg, stls+"1", "--ssl-reqd", "-u", tg.User+":wrong") })
}

// TestTLSPoplib: Python poplib with stls() (CAPA read again after the
// handshake) and with POP3_SSL, the whole poplib session.
func TestTLSPoplib(t *testing.T) {
	tg := startTLSTarget(t, "tlspoplib", nil)
	r := checkPoplibWith(t, tg.target, "--tls", "stls", "--cafile", tg.CertFile)
	has := func(caps []string, c string) bool {
		for _, x := range caps {
			if x == c {
				return true
			}
		}
		return false
	}
	if !has(r.CapaBefore, "STLS") || has(r.CapaAfter, "STLS") {
		t.Errorf("CAPA before STLS %v, after %v: want STLS only before", r.CapaBefore, r.CapaAfter)
	}
	if !has(r.CapaAfter, "SASL") || !has(r.CapaAfter, "USER") {
		t.Errorf("CAPA after STLS %v lacks USER or SASL", r.CapaAfter)
	}
	ssl := tg.target
	ssl.Port = tg.PopsPort
	checkPoplibWith(t, ssl, "--tls", "ssl", "--cafile", tg.CertFile)
}

// TestTLSMpop: mpop with STLS (--tls-starttls=on) trusting the certificate,
// with STLS pinning its SHA-256 fingerprint, with implicit TLS, and with
// its SASL mechanisms: CRAM-MD5, OAUTHBEARER, XOAUTH2 (--password mode)
// and SCRAM-SHA-256 (a users file with a SCRAM verifier; mpop does SCRAM
// through GNU SASL). Wrong credentials fail.
func TestTLSMpop(t *testing.T) {
	mpop := needPeer(t, "mpop")
	if out, err := exec.Command(mpop, "--version").Output(); err != nil || !bytes.Contains(out, []byte("scram-sha-256")) {
		t.Fatalf("mpop --version does not list scram-sha-256 (GNU SASL missing?):\n%s", out)
	}
	tg := startTLSTarget(t, "tlsmpop", nil)
	trust := fmt.Sprintf("tls on\ntls_starttls on\ntls_trust_file %s\n", tg.CertFile)
	pin := fmt.Sprintf("tls on\ntls_starttls on\ntls_fingerprint %s\n", tg.Fingerprint)
	t.Run("stls-trust", func(t *testing.T) { checkMpopWith(t, tg.target, trust+"auth user\n") })
	t.Run("stls-fingerprint", func(t *testing.T) { checkMpopWith(t, tg.target, pin+"auth user\n") })
	t.Run("pop3s", func(t *testing.T) {
		pops := tg.target
		pops.Port = tg.PopsPort
		checkMpopWith(t, pops, fmt.Sprintf("tls on\ntls_starttls off\ntls_trust_file %s\nauth user\n", tg.CertFile))
	})
	t.Run("cram-md5", func(t *testing.T) { checkMpopWith(t, tg.target, trust+"auth cram-md5\n") })
	for _, mech := range []string{"oauthbearer", "xoauth2"} {
		t.Run(mech, func(t *testing.T) {
			tok := tg.target
			tok.Pass = goodToken
			checkMpopWith(t, tok, trust+"auth "+mech+"\n")
			tok.Pass = badToken
			mpopRefused(t, tok, trust+"auth "+mech+"\n")
		})
	}
	t.Run("scram-sha-256", func(t *testing.T) {
		users := startTLSTarget(t, "alice", map[string]string{"alice": "scram pässword"})
		checkMpopWith(t, users.target, fmt.Sprintf("tls on\ntls_starttls on\ntls_trust_file %s\nauth scram-sha-256\n", users.CertFile))
		bad := users.target
		bad.Pass = "wrong"
		mpopRefused(t, bad, fmt.Sprintf("tls on\ntls_starttls on\ntls_trust_file %s\nauth scram-sha-256\n", users.CertFile))
	})
	t.Run("wrong-password", func(t *testing.T) {
		bad := tg.target
		bad.Pass = "wrong"
		mpopRefused(t, bad, trust+"auth user\n")
	})
}

// mpopRefused runs mpop with settings and checks the login is refused
// (exit status 3: authentication failure) no sooner than failDelay.
func mpopRefused(t *testing.T, tg target, settings string) {
	t.Helper()
	mpop := needPeer(t, "mpop")
	dir := t.TempDir()
	md := filepath.Join(dir, "md")
	for _, d := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(md, d), 0o700)
	}
	conf := filepath.Join(dir, "mpoprc")
	rc := fmt.Sprintf("defaults\naccount default\nhost 127.0.0.1\nport %d\n%suser %s\npassword %s\ndelivery maildir %s\nkeep on\nuidls_file %s\n",
		tg.Port, settings, tg.User, tg.Pass, md, filepath.Join(dir, "uidls"))
	os.WriteFile(conf, []byte(rc), 0o600)
	start := time.Now()
	cmd := exec.Command(mpop, "-C", conf, "-d")
	cmd.Env = append(os.Environ(), "HOME="+dir)
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	if err == nil {
		t.Fatalf("mpop (%s) logged in with bad credentials", strings.TrimSpace(settings))
	}
	if !bytes.Contains(out, []byte("authentication failed")) && !bytes.Contains(out, []byte("[AUTH]")) {
		t.Errorf("mpop: not an authentication failure:\n%s", out)
	}
	if took < failDelay {
		t.Errorf("mpop: refused after %v, before the %v delay", took, failDelay)
	}
	if _, mech, _ := strings.Cut(settings, "auth "); !strings.HasPrefix(mech, "user") &&
		!bytes.Contains(out, []byte("AUTH "+strings.ToUpper(strings.TrimSpace(mech)))) {
		t.Errorf("mpop did not send AUTH %s:\n%s", strings.TrimSpace(mech), out)
	}
	if n := len(readDirFiles(t, filepath.Join(md, "new"))); n != 0 {
		t.Errorf("mpop delivered %d messages without logging in", n)
	}
}

// TestTLSOpenSSL: openssl s_client -starttls pop3 logs in and RETRs a
// message; the unstuffed octets are those of the store.
func TestTLSOpenSSL(t *testing.T) {
	openssl := needPeer(t, "openssl")
	tg := startTLSTarget(t, "tlsopenssl", nil)
	cmd := exec.Command(openssl, "s_client", "-connect", fmt.Sprintf("127.0.0.1:%d", tg.Port),
		"-starttls", "pop3", "-CAfile", tg.CertFile, "-verify_return_error", "-quiet", "-crlf")
	cmd.Stdin = strings.NewReader(fmt.Sprintf("USER %s\nPASS %s\nRETR 1\nQUIT\n", tg.User, tg.Pass))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl s_client: %v\n%s\n%s", err, stderr.String(), out)
	}
	br := bufio.NewReader(bytes.NewReader(out))
	for _, want := range []string{"+OK send PASS", "+OK maildrop has", "+OK " + strconv.FormatInt(tg.Msgs[0].ListSize, 10) + " octets"} {
		l, _ := br.ReadString('\n')
		if !strings.HasPrefix(l, want) {
			t.Fatalf("openssl: got %q, want %q\n%s", l, want, out)
		}
	}
	var body []byte
	for {
		l, err := br.ReadString('\n')
		if err == io.EOF || err != nil {
			t.Fatalf("openssl: no end of the message:\n%s", out)
		}
		if l == ".\r\n" {
			break
		}
		body = append(body, strings.TrimPrefix(l, ".")...)
	}
	if !bytes.Equal(body, tg.Msgs[0].Wire) {
		t.Errorf("openssl RETR 1 differs\n%s", firstDiff(body, tg.Msgs[0].Wire))
	}
	if l, _ := br.ReadString('\n'); !strings.HasPrefix(l, "+OK bye") {
		t.Errorf("openssl QUIT: %q", l)
	}
}
