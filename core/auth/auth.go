package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/izyware/izypop3/core/auth/sasl"
)

// ErrAuthFailed is wrapped by every error that means "wrong credentials":
// unknown user, wrong password or token, a failed SASL exchange, or a user
// name that cannot be valid. Callers test it with errors.Is and must not
// tell the client which case it was. It is sasl.ErrAuthFailed, so that
// the SASL mechanisms and the checks here agree on what a refusal is.
var ErrAuthFailed = sasl.ErrAuthFailed

// ErrInvalidUser is wrapped (together with ErrAuthFailed by Authenticate)
// when a user name breaks the rules of ValidateUser.
var ErrInvalidUser = errors.New("invalid user name")

// MaxUserLen is the longest user name accepted, in octets. User names become
// mailbox names, and the store contract (sdk.Store) limits those to 255
// octets. RFC 1939 sets no limit of its own; RFC 2449 §4 guarantees a
// command line of only 255 octets, so a longer name could not be sent anyway.
const MaxUserLen = 255

// Authenticator checks a user name and password and returns the mailbox the
// user may open. Wrong credentials give an error wrapping ErrAuthFailed; any
// other error is an operational failure (for example a store that cannot be
// reached) and must not be reported to the client as a credentials problem.
type Authenticator interface {
	Authenticate(ctx context.Context, user, pass string) (mailbox string, err error)
}

// APOPSecreter is implemented by authenticators that know a user's clear
// password and so allow APOP (RFC 1939 §7). ok is false when APOP is not
// possible for that user (unknown or invalid name).
type APOPSecreter interface {
	APOPSecret(user string) (secret string, ok bool)
}

// SCRAMSecreter is implemented by authenticators that hold SCRAM-SHA-256
// verifiers, so that the SCRAM-SHA-256 SASL mechanism can be offered.
type SCRAMSecreter interface {
	// HasSCRAM reports whether any user has a verifier (the mechanism is
	// offered only then).
	HasSCRAM() bool
	// SCRAMCredentials returns the verifier of user and the mailbox the
	// user may open; ok is false when the user is unknown or has none.
	SCRAMCredentials(user string) (creds sasl.SCRAMCredentials, mailbox string, ok bool)
}

// TokenAuthenticator checks OAuth 2.0 bearer tokens (the OAUTHBEARER and
// XOAUTH2 SASL mechanisms). It returns the mailbox the token opens; a
// refused token gives an error wrapping ErrAuthFailed, any other error is
// an operational failure.
type TokenAuthenticator interface {
	// AuthenticateToken checks token. user is the name the client gave
	// (OAUTHBEARER's authorization identity may be empty: the token then
	// says who it is).
	AuthenticateToken(ctx context.Context, user, token string) (mailbox string, err error)
}

// ValidateUser reports whether name may be used as a user (and so mailbox)
// name: 1 to MaxUserLen octets of valid UTF-8, no '/', '\\', NUL or other
// control characters (C0, DEL, C1), not "." or "..". The error wraps
// ErrInvalidUser.
func ValidateUser(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrInvalidUser)
	case len(name) > MaxUserLen:
		return fmt.Errorf("%w: longer than %d octets", ErrInvalidUser, MaxUserLen)
	case name == "." || name == "..":
		return fmt.Errorf("%w: %q is reserved", ErrInvalidUser, name)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidUser)
	}
	for _, r := range name {
		switch {
		case r == '/' || r == '\\':
			return fmt.Errorf("%w: contains %q", ErrInvalidUser, r)
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			// NUL is < 0x20 too.
			return fmt.Errorf("%w: contains control character %U", ErrInvalidUser, r)
		}
	}
	return nil
}

// failed builds the error for wrong credentials. The user name is not
// included: it may be a password typed into the wrong field.
func failed(reason string) error {
	return fmt.Errorf("%w: %s", ErrAuthFailed, reason)
}

// equalSecret compares two secrets in constant time, also hiding their
// lengths (subtle.ConstantTimeCompare returns early on a length mismatch).
func equalSecret(a, b string) bool {
	ha := sha256.Sum256([]byte(a))
	hb := sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}
