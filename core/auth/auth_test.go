package auth

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestValidateUser(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"alice", true},
		{"alice@example.com", true},
		{"Jürgen", true},
		{"a b", true},
		{strings.Repeat("x", MaxUserLen), true},
		{"", false},
		{strings.Repeat("x", MaxUserLen+1), false},
		{".", false},
		{"..", false},
		{"...", true},
		{"a/b", false},
		{`a\b`, false},
		{"a\x00b", false},
		{"a\tb", false},
		{"a\rb", false},
		{"a\nb", false},
		{"a\x7fb", false},
		{"a\u0085b", false}, // C1 control (NEL)
		{"a\xffb", false},   // invalid UTF-8
	}
	for _, tt := range tests {
		err := ValidateUser(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateUser(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidUser) {
			t.Errorf("ValidateUser(%q) = %v, does not wrap ErrInvalidUser", tt.name, err)
		}
	}
}

func TestPassword(t *testing.T) {
	if _, err := NewPassword(""); err == nil {
		t.Fatal("NewPassword(\"\") succeeded")
	}
	p, err := NewPassword("12345")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tests := []struct {
		user, pass string
		ok         bool
	}{
		{"alice", "12345", true},
		{"bob", "12345", true},
		{"alice", "1234", false},
		{"alice", "123456", false},
		{"alice", "", false},
		{"", "12345", false},
		{"../etc", "12345", false},
		{"a\x00", "12345", false},
	}
	for _, tt := range tests {
		mb, err := p.Authenticate(ctx, tt.user, tt.pass)
		if tt.ok {
			if err != nil || mb != tt.user {
				t.Errorf("Authenticate(%q, %q) = %q, %v; want %q, nil", tt.user, tt.pass, mb, err, tt.user)
			}
			continue
		}
		if !errors.Is(err, ErrAuthFailed) {
			t.Errorf("Authenticate(%q, %q) = %q, %v; want ErrAuthFailed", tt.user, tt.pass, mb, err)
		}
		if err != nil && strings.Contains(err.Error(), "12345") {
			t.Errorf("error %q leaks the password", err)
		}
	}

	if s, ok := p.APOPSecret("alice"); !ok || s != "12345" {
		t.Errorf("APOPSecret(alice) = %q, %v", s, ok)
	}
	if _, ok := p.APOPSecret("a/b"); ok {
		t.Error("APOPSecret of an invalid name succeeded")
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := p.Authenticate(cctx, "alice", "12345"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

// minHash makes a cheap bcrypt hash for tests.
func minHash(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestParseUsersFile(t *testing.T) {
	ha := minHash(t, "secret-a")
	hb := minHash(t, "secret-b")
	file := "# izypop3 users\n\n" +
		"alice:" + ha + "\r\n" +
		"   # indented comment\n" +
		"  \t \n" +
		"bob@example.com:" + hb + "\n"
	u, err := ParseUsersFile(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if u.Len() != 2 {
		t.Fatalf("Len = %d, want 2", u.Len())
	}
	ctx := context.Background()
	tests := []struct {
		user, pass string
		ok         bool
	}{
		{"alice", "secret-a", true},
		{"bob@example.com", "secret-b", true},
		{"alice", "secret-b", false},
		{"bob@example.com", "secret-a", false},
		{"carol", "secret-a", false},
		{"", "", false},
		{"a/b", "secret-a", false},
		{"alice", "secret-a" + strings.Repeat("x", 80), false},
	}
	for _, tt := range tests {
		mb, err := u.Authenticate(ctx, tt.user, tt.pass)
		if tt.ok {
			if err != nil || mb != tt.user {
				t.Errorf("Authenticate(%q) = %q, %v", tt.user, mb, err)
			}
		} else if !errors.Is(err, ErrAuthFailed) {
			t.Errorf("Authenticate(%q, %q) = %q, %v; want ErrAuthFailed", tt.user, tt.pass, mb, err)
		}
	}
	// Unknown users cost a bcrypt comparison at the file's cost.
	if cost, err := bcrypt.Cost(u.dummy().(bcryptVerifier)); err != nil || cost != bcrypt.MinCost {
		t.Errorf("dummy hash cost = %d, %v; want %d", cost, err, bcrypt.MinCost)
	}
	var _ Authenticator = u
	if _, ok := any(u).(APOPSecreter); ok {
		t.Error("UsersFile must not offer APOP secrets")
	}
}

func TestParseUsersFileErrors(t *testing.T) {
	h := minHash(t, "pw")
	tests := []struct {
		name, file, want string
	}{
		{"no colon", "# c\nalice " + h + "\n", "line 2: want name:hash"},
		{"empty name", ":" + h, "line 1: invalid user name: empty"},
		{"bad name", "\nx/y:" + h, "line 2: invalid user name"},
		{"space in name", "a b:" + h, "line 1: user name contains white space"},
		{"clear password", "alice:hunter2", `line 1: user "alice": not a password verifier`},
		{"trailing field", "alice:" + h + ":x", `line 1: user "alice": not a password verifier`},
		{"trailing space", "alice:" + h + " ", `line 1: user "alice": not a password verifier`},
		{"duplicate", "alice:" + h + "\nbob:" + h + "\nalice:" + h, `line 3: user "alice" listed twice`},
		{"too long", "alice:" + h + "\n#" + strings.Repeat("x", MaxUsersFileLine), "line 2: longer than"},
		{"empty", "# nobody\n\n", "lists no users"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseUsersFile(strings.NewReader(tt.file))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q leaks the password field", err)
			}
		})
	}
}

func TestHashPasswordAndLoad(t *testing.T) {
	h, err := HashPassword("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if cost, err := bcrypt.Cost([]byte(h)); err != nil || cost != bcrypt.DefaultCost {
		t.Fatalf("cost = %d, %v", cost, err)
	}
	if _, err := HashPassword(""); err == nil {
		t.Error("HashPassword(\"\") succeeded")
	}
	if _, err := HashPassword(strings.Repeat("x", 73)); err == nil {
		t.Error("HashPassword of 73 octets succeeded")
	}

	path := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(path, []byte("carol:"+h+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	u, err := LoadUsersFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if mb, err := u.Authenticate(context.Background(), "carol", "s3cret"); err != nil || mb != "carol" {
		t.Fatalf("Authenticate = %q, %v", mb, err)
	}
	if _, err := LoadUsersFile(path + ".missing"); err == nil {
		t.Error("LoadUsersFile of a missing file succeeded")
	}
}

func TestEqualSecret(t *testing.T) {
	if !equalSecret("abc", "abc") || equalSecret("abc", "abd") || equalSecret("abc", "abcd") || equalSecret("", "a") {
		t.Error("equalSecret is wrong")
	}
}
