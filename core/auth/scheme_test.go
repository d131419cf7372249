package auth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestSchemes(t *testing.T) {
	ctx := context.Background()
	for _, scheme := range Schemes {
		t.Run(scheme, func(t *testing.T) {
			h, err := HashPasswordScheme(scheme, "pässword 1")
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(h, "pässword") {
				t.Fatal("verifier contains the password")
			}
			u, err := ParseUsersFile(strings.NewReader("alice:" + h + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			if mb, err := u.Authenticate(ctx, "alice", "pässword 1"); err != nil || mb != "alice" {
				t.Errorf("right password: %q %v", mb, err)
			}
			for _, bad := range []string{"pässword 2", "", "pässword 1 "} {
				if _, err := u.Authenticate(ctx, "alice", bad); !errors.Is(err, ErrAuthFailed) {
					t.Errorf("password %q: %v", bad, err)
				}
			}
			if _, err := u.Authenticate(ctx, "bob", "pässword 1"); !errors.Is(err, ErrAuthFailed) {
				t.Errorf("unknown user: %v", err)
			}
			if u.dummy().scheme() != scheme {
				t.Errorf("dummy verifier scheme %s", u.dummy().scheme())
			}
			_, _, ok := u.SCRAMCredentials("alice")
			if ok != (scheme == SchemeSCRAMSHA256) || u.HasSCRAM() != ok {
				t.Errorf("SCRAMCredentials ok=%v HasSCRAM=%v", ok, u.HasSCRAM())
			}
		})
	}
	if _, err := HashPasswordScheme("md5", "x"); err == nil {
		t.Error("unknown scheme accepted")
	}
	if _, err := HashPasswordScheme(SchemeArgon2id, ""); err == nil {
		t.Error("empty password accepted")
	}
}

func TestVerifierParsing(t *testing.T) {
	bad := []string{
		"$argon2id$v=18$m=65536,t=3,p=4$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=65536,t=3$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5", // no p: p=0
		"$argon2id$v=19$m=99999999,t=3,p=4$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=65536,t=3,p=4,x=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=65536,t=3,p=4$!!$a2V5a2V5a2V5a2V5a2V5a2V5",
		"SCRAM-SHA-256$100:c2FsdA==$" + strings.Repeat("A", 43) + "=:" + strings.Repeat("A", 43) + "=",
		"SCRAM-SHA-256$4096:c2FsdA==$AAAA:AAAA",
		"SCRAM-SHA-256$4096:c2FsdA==",
		"{SHA}abc", "hunter2", "",
	}
	for _, f := range bad {
		if _, err := parseVerifier(f); err == nil {
			t.Errorf("parseVerifier(%q) accepted", f)
		} else if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error quotes the field: %v", err)
		}
	}
	good := "SCRAM-SHA-256$4096:c2FsdA==$" + strings.Repeat("A", 43) + "=:" + strings.Repeat("A", 43) + "="
	if _, err := parseVerifier(good); err != nil {
		t.Errorf("valid SCRAM verifier refused: %v", err)
	}
}

// TestHashSlots: no more hashes run at once than there are slots, and a
// waiter gives up with its context.
func TestHashSlots(t *testing.T) {
	var running, peak atomic.Int32
	done := make(chan struct{})
	for range 3 * cap(hashSlots) {
		go func() {
			withHashSlot(context.Background(), func() {
				r := running.Add(1)
				for p := peak.Load(); r > p && !peak.CompareAndSwap(p, r); p = peak.Load() {
				}
				time.Sleep(20 * time.Millisecond)
				running.Add(-1)
			})
			done <- struct{}{}
		}()
	}
	for range 3 * cap(hashSlots) {
		<-done
	}
	if int(peak.Load()) > cap(hashSlots) {
		t.Errorf("%d hashes at once, %d slots", peak.Load(), cap(hashSlots))
	}
	// All slots taken: a canceled context gives up.
	for range cap(hashSlots) {
		hashSlots <- struct{}{}
	}
	defer func() {
		for range cap(hashSlots) {
			<-hashSlots
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := withHashSlot(ctx, func() { t.Error("ran without a slot") }); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v", err)
	}
}

func TestSASLMechanisms(t *testing.T) {
	pw, _ := NewPassword("x")
	bc, _ := HashPasswordScheme(SchemeBcrypt, "x")
	sc, _ := HashPasswordScheme(SchemeSCRAMSHA256, "x")
	ub, _ := ParseUsersFile(strings.NewReader("a:" + bc))
	us, _ := ParseUsersFile(strings.NewReader("a:" + bc + "\nb:" + sc))
	tok := CommandTokens{Command: "true"}
	for _, tt := range []struct {
		s    *SASL
		want []string
	}{
		{&SASL{Auth: pw}, []string{"CRAM-MD5", "PLAIN", "LOGIN"}},
		{&SASL{Auth: ub}, []string{"PLAIN", "LOGIN"}},
		{&SASL{Auth: us, Tokens: tok}, []string{"SCRAM-SHA-256", "OAUTHBEARER", "XOAUTH2", "PLAIN", "LOGIN"}},
	} {
		if got := tt.s.Mechanisms(); !slices.Equal(got, tt.want) {
			t.Errorf("Mechanisms = %q, want %q", got, tt.want)
		}
	}
	if _, _, err := (&SASL{Auth: ub}).Start(context.Background(), "CRAM-MD5"); !errors.Is(err, ErrUnsupportedMechanism) {
		t.Errorf("Start(CRAM-MD5) without clear passwords: %v", err)
	}
	// Made-up SCRAM credentials are stable per name and differ by name.
	s := &SASL{Auth: us}
	if a, b := s.fakeSCRAM("x"), s.fakeSCRAM("x"); string(a.Salt) != string(b.Salt) {
		t.Error("fake salt changes between lookups")
	}
	if string(s.fakeSCRAM("x").Salt) == string(s.fakeSCRAM("y").Salt) {
		t.Error("fake salts equal for two names")
	}
}

func TestCommandTokens(t *testing.T) {
	ctx := context.Background()
	c := CommandTokens{Command: `read u; read t; case "$t" in good) echo "box-$u";; bad) exit 1;; slow) sleep 5;; *) exit 7;; esac`, Timeout: 300 * time.Millisecond}
	if mb, err := c.AuthenticateToken(ctx, "alice", "good"); err != nil || mb != "box-alice" {
		t.Errorf("good: %q %v", mb, err)
	}
	if _, err := c.AuthenticateToken(ctx, "alice", "bad"); !errors.Is(err, ErrAuthFailed) {
		t.Errorf("bad: %v", err)
	}
	for _, tok := range []string{"other", "slow"} {
		_, err := c.AuthenticateToken(ctx, "alice", tok)
		if err == nil || errors.Is(err, ErrAuthFailed) || strings.Contains(err.Error(), tok) {
			t.Errorf("%s: %v, want an operational error without the token", tok, err)
		}
	}
	if _, err := c.AuthenticateToken(ctx, "alice", "a\nb"); !errors.Is(err, ErrAuthFailed) {
		t.Errorf("token with a newline: %v", err)
	}
	// A command that prints nothing: the mailbox is the user, and without
	// a user there is none.
	q := CommandTokens{Command: "cat >/dev/null"}
	if mb, err := q.AuthenticateToken(ctx, "alice", "t"); err != nil || mb != "alice" {
		t.Errorf("quiet command: %q %v", mb, err)
	}
	if _, err := q.AuthenticateToken(ctx, "", "t"); err == nil {
		t.Error("quiet command without a user accepted")
	}
}

func TestIntrospection(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, _ := r.BasicAuth(); u != "izypop3" || p != "s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		r.ParseForm()
		past := time.Now().Add(-time.Hour).Unix()
		switch r.PostForm.Get("token") {
		case "alice-token":
			json.NewEncoder(w).Encode(map[string]any{"active": true, "username": "alice", "exp": time.Now().Add(time.Hour).Unix()})
		case "sub-token":
			json.NewEncoder(w).Encode(map[string]any{"active": true, "sub": "carol"})
		case "expired":
			json.NewEncoder(w).Encode(map[string]any{"active": true, "username": "alice", "exp": past})
		case "broken":
			w.WriteHeader(http.StatusInternalServerError)
		default:
			json.NewEncoder(w).Encode(map[string]any{"active": false})
		}
	}))
	defer srv.Close()
	in := Introspection{URL: srv.URL, ClientID: "izypop3", ClientSecret: "s3cret"}
	ctx := context.Background()
	for _, tt := range []struct {
		user, token, mailbox string
		refused              bool
	}{
		{"alice", "alice-token", "alice", false},
		{"", "alice-token", "alice", false},
		{"", "sub-token", "carol", false},
		{"bob", "alice-token", "", true},
		{"alice", "expired", "", true},
		{"alice", "nope", "", true},
	} {
		mb, err := in.AuthenticateToken(ctx, tt.user, tt.token)
		if tt.refused != errors.Is(err, ErrAuthFailed) || (!tt.refused && (err != nil || mb != tt.mailbox)) {
			t.Errorf("%q/%q: %q %v", tt.user, tt.token, mb, err)
		}
	}
	_, err := in.AuthenticateToken(ctx, "alice", "broken")
	if err == nil || errors.Is(err, ErrAuthFailed) {
		t.Errorf("endpoint failure: %v, want an operational error", err)
	}
	in.ClientSecret = "wrong"
	if _, err := in.AuthenticateToken(ctx, "alice", "alice-token"); err == nil || errors.Is(err, ErrAuthFailed) || strings.Contains(err.Error(), "alice-token") {
		t.Errorf("client refused by the endpoint: %v", err)
	}
}
