package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

	"github.com/izyware/izypop3/core/auth/sasl"
)

// Schemes of the password verifiers a users file may hold, and that
// HashPassword makes.
const (
	// SchemeBcrypt: "$2a$", "$2b$" or "$2y$" hashes (golang.org/x/crypto/
	// bcrypt). Passwords of at most 72 octets.
	SchemeBcrypt = "bcrypt"
	// SchemeArgon2id: the PHC string "$argon2id$v=19$m=KiB,t=N,p=N$salt$hash"
	// (RFC 9106; golang.org/x/crypto/argon2).
	SchemeArgon2id = "argon2id"
	// SchemeSCRAMSHA256: "SCRAM-SHA-256$iterations:salt$StoredKey:ServerKey"
	// (the layout of RFC 5803, base64 fields). Besides USER/PASS it allows
	// the SCRAM-SHA-256 SASL mechanism, which never sends the password.
	SchemeSCRAMSHA256 = "scram-sha-256"
)

// Schemes lists the verifier schemes, the default first.
var Schemes = []string{SchemeBcrypt, SchemeArgon2id, SchemeSCRAMSHA256}

// Parameters of new verifiers made by HashPassword.
const (
	// argon2id: RFC 9106 §4, second recommended option (64 MiB, 3 passes,
	// 4 lanes).
	argonTime    = 3
	argonMemory  = 64 << 10 // KiB
	argonThreads = 4
	argonKeyLen  = 32
	// Bounds on what a users file may ask of argon2id per check.
	maxArgonMemory = 1 << 20 // KiB: 1 GiB
	maxArgonTime   = 64
	// scramIterations for new SCRAM-SHA-256 verifiers (RFC 7677 §4: at
	// least 4096).
	scramIterations = 4096
	// maxSCRAMIterations bounds what a users file may ask.
	maxSCRAMIterations = 1 << 22
	saltLen            = 16
)

// hashSlots bounds the password hashes computed at once in this process
// (bcrypt, argon2id, PBKDF2 for SCRAM verifiers), so that a flood of
// logins cannot take every CPU: other work (and the logins that do get a
// slot) stays prompt.
var hashSlots = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))

// withHashSlot runs f once a hashing slot is free, or fails with ctx.
func withHashSlot(ctx context.Context, f func()) error {
	select {
	case hashSlots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-hashSlots }()
	f()
	return nil
}

// verifier is one user's stored password verifier.
type verifier interface {
	// check reports whether pass is the password.
	check(pass string) bool
	scheme() string
}

type bcryptVerifier []byte

func (v bcryptVerifier) check(pass string) bool {
	if len(pass) > maxBcryptPassword {
		// bcrypt would compare only the first 72 octets: refuse, after
		// the same work.
		bcrypt.CompareHashAndPassword(v, []byte(pass[:maxBcryptPassword]))
		return false
	}
	return bcrypt.CompareHashAndPassword(v, []byte(pass)) == nil
}

func (bcryptVerifier) scheme() string { return SchemeBcrypt }

type argonVerifier struct {
	time, memory uint32
	threads      uint8
	salt, key    []byte
}

func (v *argonVerifier) check(pass string) bool {
	got := argon2.IDKey([]byte(pass), v.salt, v.time, v.memory, v.threads, uint32(len(v.key)))
	return subtle.ConstantTimeCompare(got, v.key) == 1
}

func (*argonVerifier) scheme() string { return SchemeArgon2id }

func (v *argonVerifier) String() string {
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, v.memory, v.time, v.threads, enc.EncodeToString(v.salt), enc.EncodeToString(v.key))
}

type scramVerifier struct{ c sasl.SCRAMCredentials }

func (v scramVerifier) check(pass string) bool { return v.c.VerifyPassword(pass) }

func (scramVerifier) scheme() string { return SchemeSCRAMSHA256 }

func (v scramVerifier) String() string {
	enc := base64.StdEncoding
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", v.c.Iterations, enc.EncodeToString(v.c.Salt), enc.EncodeToString(v.c.StoredKey), enc.EncodeToString(v.c.ServerKey))
}

// errNotVerifier is the (fixed) text for a field that is no verifier;
// the field itself is never quoted: it may be a clear password.
var errNotVerifier = errors.New("not a password verifier (bcrypt, argon2id or SCRAM-SHA-256; make one with izypop3 passwd)")

// parseVerifier parses the hash field of a users file line.
func parseVerifier(field string) (verifier, error) {
	switch {
	case strings.HasPrefix(field, "$2"):
		if _, err := bcrypt.Cost([]byte(field)); err != nil || strings.ContainsAny(field, " \t:") {
			return nil, errNotVerifier
		}
		return bcryptVerifier(field), nil
	case strings.HasPrefix(field, "$argon2id$"):
		return parseArgon2id(field)
	case strings.HasPrefix(field, "SCRAM-SHA-256$"):
		return parseSCRAM(field)
	}
	return nil, errNotVerifier
}

func parseArgon2id(field string) (verifier, error) {
	p := strings.Split(field, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(p) != 6 || p[2] != "v="+strconv.Itoa(argon2.Version) {
		return nil, errNotVerifier
	}
	var m, t, threads uint64
	for _, kv := range strings.Split(p[3], ",") {
		k, val, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(val, 10, 32)
		if !ok || err != nil {
			return nil, errNotVerifier
		}
		switch k {
		case "m":
			m = n
		case "t":
			t = n
		case "p":
			threads = n
		default:
			return nil, errNotVerifier
		}
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(p[4])
	key, err2 := enc.DecodeString(p[5])
	switch {
	case err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 || len(key) > 64:
		return nil, errNotVerifier
	case m < 8*threads || m > maxArgonMemory || t < 1 || t > maxArgonTime || threads < 1 || threads > 255:
		return nil, fmt.Errorf("argon2id parameters out of range (memory at most %d KiB, at most %d passes)", maxArgonMemory, maxArgonTime)
	}
	return &argonVerifier{time: uint32(t), memory: uint32(m), threads: uint8(threads), salt: salt, key: key}, nil
}

func parseSCRAM(field string) (verifier, error) {
	rest := strings.TrimPrefix(field, "SCRAM-SHA-256$")
	iterSalt, keys, ok := strings.Cut(rest, "$")
	if !ok {
		return nil, errNotVerifier
	}
	iterStr, saltStr, ok1 := strings.Cut(iterSalt, ":")
	storedStr, serverStr, ok2 := strings.Cut(keys, ":")
	if !ok1 || !ok2 {
		return nil, errNotVerifier
	}
	iter, err := strconv.Atoi(iterStr)
	if err != nil {
		return nil, errNotVerifier
	}
	enc := base64.StdEncoding
	salt, err1 := enc.DecodeString(saltStr)
	stored, err2 := enc.DecodeString(storedStr)
	server, err3 := enc.DecodeString(serverStr)
	switch {
	case err1 != nil || err2 != nil || err3 != nil || len(salt) == 0 || len(stored) != 32 || len(server) != 32:
		return nil, errNotVerifier
	case iter < sasl.MinSCRAMIterations || iter > maxSCRAMIterations:
		return nil, fmt.Errorf("SCRAM-SHA-256 iteration count out of range (%d to %d)", sasl.MinSCRAMIterations, maxSCRAMIterations)
	}
	return scramVerifier{sasl.SCRAMCredentials{Salt: salt, Iterations: iter, StoredKey: stored, ServerKey: server}}, nil
}

// HashPasswordScheme returns a users-file verifier of pw in the given scheme
// (one of Schemes; "" means bcrypt): bcrypt at the default cost, argon2id
// with RFC 9106's second recommended parameters, or SCRAM-SHA-256 with
// 4096 iterations. pw must not be empty; bcrypt takes at most 72 octets.
func HashPasswordScheme(scheme, pw string) (string, error) {
	if pw == "" {
		return "", errors.New("auth: empty password")
	}
	salt := make([]byte, saltLen)
	rand.Read(salt)
	switch scheme {
	case "", SchemeBcrypt:
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
		if err != nil {
			return "", fmt.Errorf("auth: %w", err)
		}
		return string(h), nil
	case SchemeArgon2id:
		v := &argonVerifier{time: argonTime, memory: argonMemory, threads: argonThreads, salt: salt}
		v.key = argon2.IDKey([]byte(pw), salt, v.time, v.memory, v.threads, argonKeyLen)
		return v.String(), nil
	case SchemeSCRAMSHA256:
		c, err := sasl.NewSCRAMSHA256Credentials(pw, salt, scramIterations)
		if err != nil {
			return "", fmt.Errorf("auth: %w", err)
		}
		return scramVerifier{c}.String(), nil
	}
	return "", fmt.Errorf("auth: unknown password scheme %q (want one of %s)", scheme, strings.Join(Schemes, ", "))
}
