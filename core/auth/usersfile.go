package auth

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// MaxUsersFileLine is the longest line accepted in a users file, in octets.
// A line is a user name (at most MaxUserLen) a colon and a bcrypt hash (60
// octets); the rest is room for comments.
const MaxUsersFileLine = 4096

// maxBcryptPassword is bcrypt's input limit in octets. Longer passwords
// would be silently truncated by the comparison, so they are refused.
const maxBcryptPassword = 72

// MaxUsersFileSize is the largest users file read, in octets (about 200 000
// users); a bigger file is almost certainly the wrong file.
const MaxUsersFileSize = 64 << 20

// UsersFile authenticates against a fixed list of users with bcrypt password
// hashes. The user name is the mailbox. It does not know clear passwords, so
// it does not implement APOPSecreter.
type UsersFile struct {
	users   map[string][]byte // name → bcrypt hash
	maxCost int               // highest bcrypt cost in the file

	// dummy is compared against when the user is unknown, so that an
	// unknown user costs the same bcrypt work as a known one. It has the
	// file's highest cost and is made on first use.
	dummy func() []byte
}

var _ Authenticator = (*UsersFile)(nil)

// HashPassword returns the bcrypt hash (default cost) of pw for a users file
// line. pw must be 1 to 72 octets (bcrypt's limit).
func HashPassword(pw string) (string, error) {
	if pw == "" {
		return "", errors.New("auth: empty password")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("auth: %w", err)
	}
	return string(h), nil
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

// ParseUsersFile parses a users file: one "name:hash" per line, hash a
// bcrypt hash (as made by HashPassword); lines that are empty or blank and
// lines whose first non-blank character is '#' are ignored. Parsing is
// strict: a malformed line, an invalid user name, a hash that is not bcrypt
// or a user listed twice is an error naming the line number. A file with no
// users is an error too. CRLF line ends are accepted.
func ParseUsersFile(r io.Reader) (*UsersFile, error) {
	u := &UsersFile{users: make(map[string][]byte)}
	sc := bufio.NewScanner(io.LimitReader(r, MaxUsersFileSize+1))
	sc.Buffer(make([]byte, 0, 512), MaxUsersFileLine)
	var total int64
	lineNo := 0
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
		name, hash, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("auth: users file line %d: want name:hash", lineNo)
		}
		if err := ValidateUser(name); err != nil {
			return nil, fmt.Errorf("auth: users file line %d: %w", lineNo, err)
		}
		if strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("auth: users file line %d: user name contains white space", lineNo)
		}
		cost, err := bcrypt.Cost([]byte(hash))
		if err != nil || strings.ContainsAny(hash, " \t:") {
			// Never echo the hash field: it may be a clear password.
			return nil, fmt.Errorf("auth: users file line %d: user %q: the hash is not a bcrypt hash (make one with izypop3 passwd)", lineNo, name)
		}
		if _, dup := u.users[name]; dup {
			return nil, fmt.Errorf("auth: users file line %d: user %q listed twice", lineNo, name)
		}
		u.users[name] = []byte(hash)
		u.maxCost = max(u.maxCost, cost)
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
	u.dummy = sync.OnceValue(func() []byte {
		h, err := bcrypt.GenerateFromPassword([]byte("izypop3 dummy password"), u.maxCost)
		if err != nil {
			panic(err) // only possible for a password over 72 octets
		}
		return h
	})
	return u, nil
}

// Len returns the number of users.
func (u *UsersFile) Len() int { return len(u.users) }

// Authenticate checks pass against the user's bcrypt hash. An unknown user
// costs the same bcrypt comparison as a known one.
func (u *UsersFile) Authenticate(ctx context.Context, user, pass string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	hash, known := u.users[user]
	if !known {
		hash = u.dummy()
	}
	err := bcrypt.CompareHashAndPassword(hash, []byte(pass))
	switch {
	case len(pass) > maxBcryptPassword:
		return "", failed("password longer than bcrypt's 72 octets")
	case !known:
		if verr := ValidateUser(user); verr != nil {
			return "", fmt.Errorf("%w: %w", ErrAuthFailed, verr)
		}
		return "", failed("unknown user")
	case err != nil:
		return "", failed("wrong password")
	}
	return user, nil
}
