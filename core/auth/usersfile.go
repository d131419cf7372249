package auth

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"

	"github.com/izyware/izypop3/core/auth/sasl"
)

// MaxUsersFileLine is the longest line accepted in a users file, in octets.
// A line is a user name (at most MaxUserLen) a colon and a verifier (at
// most about 150 octets); the rest is room for comments.
const MaxUsersFileLine = 4096

// maxBcryptPassword is bcrypt's input limit in octets. Longer passwords
// would be silently truncated by the comparison, so they are refused.
const maxBcryptPassword = 72

// MaxUsersFileSize is the largest users file read, in octets (about 200 000
// users); a bigger file is almost certainly the wrong file.
const MaxUsersFileSize = 64 << 20

// UsersFile authenticates against a fixed list of users with password
// verifiers (bcrypt, argon2id or SCRAM-SHA-256, see Schemes). The user name
// is the mailbox. It does not know clear passwords, so it does not
// implement APOPSecreter (no APOP, no CRAM-MD5); the users with a
// SCRAM-SHA-256 verifier can use that SASL mechanism (SCRAMSecreter).
type UsersFile struct {
	users map[string]verifier
	scram int // users with a SCRAM-SHA-256 verifier

	// dummy is checked when the user is unknown, so that an unknown user
	// costs the same work as a known one: a verifier of a random password
	// of the first user's scheme (bcrypt: the file's highest cost; the
	// others: the first user's parameters). Made on first use.
	dummy func() verifier
}

var (
	_ Authenticator = (*UsersFile)(nil)
	_ SCRAMSecreter = (*UsersFile)(nil)
)

// HashPassword returns the bcrypt hash (default cost) of pw for a users file
// line. pw must be 1 to 72 octets (bcrypt's limit). See HashPasswordScheme
// for the other schemes.
func HashPassword(pw string) (string, error) {
	if len(pw) > maxBcryptPassword {
		return "", fmt.Errorf("auth: bcrypt takes at most %d octets of password", maxBcryptPassword)
	}
	return HashPasswordScheme(SchemeBcrypt, pw)
}

// LoadUsersFile reads and parses the users file at path (see ParseUsersFile).
func LoadUsersFile(path string) (*UsersFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("auth: users file: %w", err)
	}
	defer f.Close()
	u, err := ParseUsersFile(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return u, nil
}

// ParseUsersFile parses a users file: one "name:verifier" per line, the
// verifier a bcrypt hash, an argon2id PHC string or a SCRAM-SHA-256
// verifier (as made by HashPasswordScheme); lines that are empty or blank
// and lines whose first non-blank character is '#' are ignored. Parsing is
// strict: a malformed line, an invalid user name, a field that is no
// verifier (it is never quoted: it may be a clear password), parameters
// out of range or a user listed twice is an error naming the line number.
// A file with no users is an error too. CRLF line ends are accepted.
func ParseUsersFile(r io.Reader) (*UsersFile, error) {
	u := &UsersFile{users: make(map[string]verifier)}
	sc := bufio.NewScanner(io.LimitReader(r, MaxUsersFileSize+1))
	sc.Buffer(make([]byte, 0, 512), MaxUsersFileLine)
	var total int64
	lineNo := 0
	var first verifier
	maxCost := 0
	for sc.Scan() {
		lineNo++
		raw := sc.Bytes()
		total += int64(len(raw)) + 1
		if total > MaxUsersFileSize {
			return nil, fmt.Errorf("auth: users file larger than %d octets", MaxUsersFileSize)
		}
		line := string(bytes.TrimSuffix(raw, []byte("\r")))
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		name, field, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("auth: users file line %d: want name:hash", lineNo)
		}
		if err := ValidateUser(name); err != nil {
			return nil, fmt.Errorf("auth: users file line %d: %w", lineNo, err)
		}
		if strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("auth: users file line %d: user name contains white space", lineNo)
		}
		v, err := parseVerifier(field)
		if err != nil {
			return nil, fmt.Errorf("auth: users file line %d: user %q: %w", lineNo, name, err)
		}
		if _, dup := u.users[name]; dup {
			return nil, fmt.Errorf("auth: users file line %d: user %q listed twice", lineNo, name)
		}
		u.users[name] = v
		if first == nil {
			first = v
		}
		switch v := v.(type) {
		case bcryptVerifier:
			cost, _ := bcrypt.Cost(v)
			maxCost = max(maxCost, cost)
		case scramVerifier:
			u.scram++
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("auth: users file line %d: longer than %d octets", lineNo+1, MaxUsersFileLine)
		}
		return nil, fmt.Errorf("auth: users file: %w", err)
	}
	if len(u.users) == 0 {
		return nil, errors.New("auth: users file lists no users")
	}
	u.dummy = sync.OnceValue(func() verifier { return dummyLike(first, maxCost) })
	return u, nil
}

// dummyLike returns a verifier of a random password with the scheme and
// cost of v (bcrypt: cost bcryptCost).
func dummyLike(v verifier, bcryptCost int) verifier {
	pw := rand.Text()
	switch v := v.(type) {
	case *argonVerifier:
		d := *v
		d.salt = []byte(rand.Text())[:len(v.salt)]
		d.key = make([]byte, len(v.key))
		return &d
	case scramVerifier:
		c, err := sasl.NewSCRAMSHA256Credentials(pw, v.c.Salt, v.c.Iterations)
		if err != nil {
			panic(err) // parameters already validated
		}
		return scramVerifier{c}
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcryptCost)
	if err != nil {
		panic(err) // only possible for a password over 72 octets
	}
	return bcryptVerifier(h)
}

// Len returns the number of users.
func (u *UsersFile) Len() int { return len(u.users) }

// Authenticate checks pass against the user's verifier. An unknown user
// costs the same work as a known one. Hashes run under the process-wide
// bound on concurrent hashing; waiting for a slot honours ctx.
func (u *UsersFile) Authenticate(ctx context.Context, user, pass string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	v, known := u.users[user]
	if !known {
		v = u.dummy()
	}
	var ok bool
	if err := withHashSlot(ctx, func() { ok = v.check(pass) }); err != nil {
		return "", err
	}
	switch {
	case !known:
		if verr := ValidateUser(user); verr != nil {
			return "", fmt.Errorf("%w: %w", ErrAuthFailed, verr)
		}
		return "", failed("unknown user")
	case !ok:
		return "", failed("wrong password")
	}
	return user, nil
}

// HasSCRAM reports whether any user has a SCRAM-SHA-256 verifier.
func (u *UsersFile) HasSCRAM() bool { return u.scram > 0 }

// SCRAMCredentials returns the SCRAM-SHA-256 verifier of user, whose
// mailbox is its name.
func (u *UsersFile) SCRAMCredentials(user string) (sasl.SCRAMCredentials, string, bool) {
	if v, ok := u.users[user].(scramVerifier); ok {
		return v.c, user, true
	}
	return sasl.SCRAMCredentials{}, "", false
}
