package pop3backend_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

	"github.com/izyware/izypop3/core/auth"
	"github.com/izyware/izypop3/core/auth/sasl"
	"github.com/izyware/izypop3/core/pop3"
	"github.com/izyware/izypop3/core/pop3/pop3client"
	"github.com/izyware/izypop3/core/pop3/pop3server"
	"github.com/izyware/izypop3/core/storehost/pop3backend"
	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/storetest/memstore"
)

// serveAuth runs the real server over store with the given credential
// source and returns its address.
func serveAuth(t *testing.T, store sdk.Store, opts pop3backend.Options) string {
	t.Helper()
	return serveWith(t, store, opts, pop3server.Options{AuthFailDelay: 50 * time.Millisecond, MaxAuthFailures: 100})
}

// authStore is the reference store with a message for alice, checking
// passwords itself: alice's password is "store-pw", and the token
// "store-token" is her bearer token (stores see tokens as passwords).
type authStore struct{ *memstore.Store }

func (s authStore) Authenticate(ctx context.Context, user, pass string) (string, error) {
	if user == "alice" && (pass == "store-pw" || pass == "store-token") {
		return "alice", nil
	}
	return "", sdk.ErrAuthFailed
}

func aliceStore(t *testing.T) *memstore.Store {
	s := memstore.New()
	if _, err := s.Put(context.Background(), "alice", sdk.PutOptions{}, strings.NewReader("Subject: hi\r\n\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	return s
}

// tryAuth logs in with a and reports the server's verdict; on success it
// checks the maildrop is alice's.
func tryAuth(t *testing.T, addr string, a pop3client.SASLClient) error {
	t.Helper()
	c, err := pop3client.Dial(addr, &pop3client.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(a); err != nil {
		return err
	}
	n, _, err := c.Stat()
	if err != nil || n != 1 {
		t.Fatalf("STAT after AUTH: %d, %v", n, err)
	}
	return c.Quit()
}

func capaSASL(t *testing.T, addr string) []string {
	t.Helper()
	c, err := pop3client.Dial(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	caps, err := c.Capa()
	if err != nil {
		t.Fatal(err)
	}
	return caps["SASL"]
}

func wantAuthErr(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, &pop3.Error{Code: pop3.CodeAuth}) {
		t.Errorf("%s: %v, want -ERR [AUTH]", what, err)
	}
}

// cheapVerifiers returns users-file lines for bcrypt and argon2id at their
// lowest costs: at the costs of auth.HashPasswordScheme (bcrypt 10,
// argon2id 64 MiB and 3 passes) the dozen checks of TestSASLUsersFile took
// 5.5 s of CPU under -race, and under a load of 20 a login overran the
// client's 10 s timeout. What the test is about, the mechanisms over each
// scheme, does not depend on the cost.
func cheapVerifiers(t *testing.T, bcryptUser, argonUser string) []string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte("pw of "+bcryptUser), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	salt := []byte("sixteen octets!!")
	key := argon2.IDKey([]byte("pw of "+argonUser), salt, 1, 64, 1, 32)
	enc := base64.RawStdEncoding
	return []string{
		bcryptUser + ":" + string(h),
		fmt.Sprintf("%s:$argon2id$v=%d$m=64,t=1,p=1$%s$%s", argonUser, argon2.Version, enc.EncodeToString(salt), enc.EncodeToString(key)),
	}
}

// TestSASLUsersFile: bcrypt, argon2id and SCRAM-SHA-256 verifiers through
// PLAIN, LOGIN and SCRAM-SHA-256; no CRAM-MD5 (no clear password).
func TestSASLUsersFile(t *testing.T) {
	h, err := auth.HashPasswordScheme(auth.SchemeSCRAMSHA256, "pw of alice") // 4096 iterations, the least RFC 7677 allows
	if err != nil {
		t.Fatal(err)
	}
	lines := append([]string{"alice:" + h}, cheapVerifiers(t, "bcrypt", "argon")...)
	uf, err := auth.ParseUsersFile(strings.NewReader(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	s := aliceStore(t)
	for _, box := range []string{"bcrypt", "argon"} {
		s.Put(context.Background(), box, sdk.PutOptions{}, strings.NewReader("Subject: x\r\n\r\ny\r\n"))
	}
	addr := serveAuth(t, s, pop3backend.Options{Auth: uf})
	if got, want := capaSASL(t, addr), []string{"SCRAM-SHA-256", "PLAIN", "LOGIN"}; !slices.Equal(got, want) {
		t.Errorf("CAPA SASL %q, want %q", got, want)
	}
	scram := func(user, pw string) pop3client.SASLClient {
		c, err := sasl.NewSCRAMSHA256Client("", user, pw)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if err := tryAuth(t, addr, scram("alice", "pw of alice")); err != nil {
		t.Errorf("SCRAM-SHA-256: %v", err)
	}
	wantAuthErr(t, "SCRAM-SHA-256 wrong password", tryAuth(t, addr, scram("alice", "nope")))
	wantAuthErr(t, "SCRAM-SHA-256 unknown user", tryAuth(t, addr, scram("mallory", "nope")))
	wantAuthErr(t, "SCRAM-SHA-256 bcrypt-only user", tryAuth(t, addr, scram("bcrypt", "pw of bcrypt")))
	for _, user := range []string{"alice", "bcrypt", "argon"} {
		if err := tryAuth(t, addr, sasl.NewPlainClient("", user, "pw of "+user)); err != nil {
			t.Errorf("PLAIN %s: %v", user, err)
		}
		if err := tryAuth(t, addr, sasl.NewLoginClient(user, "pw of "+user)); err != nil {
			t.Errorf("LOGIN %s: %v", user, err)
		}
		wantAuthErr(t, "PLAIN wrong password "+user, tryAuth(t, addr, sasl.NewPlainClient("", user, "x")))
	}
	wantAuthErr(t, "PLAIN with another authzid", tryAuth(t, addr, sasl.NewPlainClient("bcrypt", "alice", "pw of alice")))
	wantAuthErr(t, "PLAIN path traversal", tryAuth(t, addr, sasl.NewPlainClient("", "../alice", "pw of alice")))
	err = tryAuth(t, addr, sasl.NewCRAMMD5Client("alice", "pw of alice"))
	if err == nil || errors.Is(err, &pop3.Error{Code: pop3.CodeAuth}) {
		t.Errorf("CRAM-MD5 with a users file: %v, want unsupported", err)
	}
}

// TestSASLPasswordMode: --password knows the clear password: CRAM-MD5 too.
func TestSASLPasswordMode(t *testing.T) {
	pw, _ := auth.NewPassword("12345")
	addr := serveAuth(t, aliceStore(t), pop3backend.Options{Auth: pw})
	if got, want := capaSASL(t, addr), []string{"CRAM-MD5", "PLAIN", "LOGIN"}; !slices.Equal(got, want) {
		t.Errorf("CAPA SASL %q, want %q", got, want)
	}
	if err := tryAuth(t, addr, sasl.NewCRAMMD5Client("alice", "12345")); err != nil {
		t.Errorf("CRAM-MD5: %v", err)
	}
	wantAuthErr(t, "CRAM-MD5 wrong", tryAuth(t, addr, sasl.NewCRAMMD5Client("alice", "1234")))
	wantAuthErr(t, "CRAM-MD5 invalid name", tryAuth(t, addr, sasl.NewCRAMMD5Client("a/b", "12345")))
}

// TestSASLTokens: OAUTHBEARER and XOAUTH2 through a check command and
// through the store's own Authenticator.
func TestSASLTokens(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "check")
	// Accepts the token "good-token" for alice (or for no named user),
	// prints the mailbox; refuses anything else.
	os.WriteFile(script, []byte("#!/bin/sh\nread user\nread token\n[ \"$token\" = good-token ] || exit 1\n[ -z \"$user\" ] || [ \"$user\" = alice ] || exit 1\necho alice\n"), 0o755)
	pw, _ := auth.NewPassword("12345")
	addr := serveAuth(t, aliceStore(t), pop3backend.Options{Auth: pw, Tokens: auth.CommandTokens{Command: script}})
	if got := capaSASL(t, addr); !slices.Contains(got, "OAUTHBEARER") || !slices.Contains(got, "XOAUTH2") {
		t.Errorf("CAPA SASL %q lacks the token mechanisms", got)
	}
	if err := tryAuth(t, addr, sasl.NewOAuthBearerClient("alice", "good-token", "127.0.0.1", 110)); err != nil {
		t.Errorf("OAUTHBEARER: %v", err)
	}
	if err := tryAuth(t, addr, sasl.NewOAuthBearerClient("", "good-token", "", 0)); err != nil {
		t.Errorf("OAUTHBEARER without authzid: %v", err)
	}
	if err := tryAuth(t, addr, sasl.NewXOAuth2Client("alice", "good-token")); err != nil {
		t.Errorf("XOAUTH2: %v", err)
	}
	wantAuthErr(t, "OAUTHBEARER bad token", tryAuth(t, addr, sasl.NewOAuthBearerClient("alice", "bad", "", 0)))
	wantAuthErr(t, "XOAUTH2 bad token", tryAuth(t, addr, sasl.NewXOAuth2Client("alice", "bad")))
	wantAuthErr(t, "XOAUTH2 other user", tryAuth(t, addr, sasl.NewXOAuth2Client("bob", "good-token")))

	// The store checks tokens when it is the authenticator.
	addr = serveAuth(t, authStore{aliceStore(t)}, pop3backend.Options{})
	if err := tryAuth(t, addr, sasl.NewXOAuth2Client("alice", "store-token")); err != nil {
		t.Errorf("XOAUTH2 via the store: %v", err)
	}
	if err := tryAuth(t, addr, sasl.NewPlainClient("", "alice", "store-pw")); err != nil {
		t.Errorf("PLAIN via the store: %v", err)
	}
	wantAuthErr(t, "OAUTHBEARER via the store, bad token", tryAuth(t, addr, sasl.NewOAuthBearerClient("alice", "x", "", 0)))
}

// TestSASLTokenServiceDown: a token check that fails to run is -ERR
// [SYS/TEMP], not a wrong token, and its text stays off the wire.
func TestSASLTokenServiceDown(t *testing.T) {
	pw, _ := auth.NewPassword("12345")
	addr := serveAuth(t, aliceStore(t), pop3backend.Options{Auth: pw, Tokens: auth.CommandTokens{Command: "echo secret-detail >&2; exit 3"}})
	err := tryAuth(t, addr, sasl.NewXOAuth2Client("alice", "tok"))
	if !errors.Is(err, &pop3.Error{Code: pop3.CodeSysTemp}) || strings.Contains(err.Error(), "secret-detail") || strings.Contains(err.Error(), "exit") {
		t.Errorf("err = %v, want a plain -ERR [SYS/TEMP]", err)
	}
}
