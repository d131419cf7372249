package sasl

import (
	"crypto/hmac"
	"errors"
	"fmt"

	gosasl "github.com/emersion/go-sasl"
	"github.com/xdg-go/scram"
)

// Server is the server half of one exchange: go-sasl's sasl.Server. Next
// is given the client's decoded response (nil when the client sent no
// initial response) and returns the next challenge, or done. A Server is
// used for one exchange and by one goroutine.
type Server = gosasl.Server

// Client is the client half of one exchange: go-sasl's sasl.Client.
type Client = gosasl.Client

// Mechanism names (IANA SASL registry).
const (
	Plain       = "PLAIN"
	Login       = "LOGIN"
	CRAMMD5     = "CRAM-MD5"
	SCRAMSHA256 = "SCRAM-SHA-256"
	OAuthBearer = "OAUTHBEARER"
	XOAuth2     = "XOAUTH2"
)

// Mechanisms lists every mechanism of this package, strongest first.
var Mechanisms = []string{SCRAMSHA256, OAuthBearer, XOAuth2, CRAMMD5, Plain, Login}

// ErrAuthFailed is wrapped by the errors a mechanism returns for a failed
// exchange it detected itself: a malformed or unexpected response, a wrong
// digest or proof. Callbacks report refused credentials with an error
// wrapping it too (core/auth's ErrAuthFailed is this error); any other
// error from a callback is an operational failure.
var ErrAuthFailed = errors.New("authentication failed")

// ErrServerNotVerified is wrapped by the error a SCRAM client returns when
// the server's final message does not prove that it knows the verifier.
var ErrServerNotVerified = errors.New("sasl: the server did not prove its identity")

// MinSCRAMIterations is the least PBKDF2 iteration count accepted for
// SCRAM-SHA-256, by the client from a server and when credentials are
// made (RFC 7677 §4: at least 4096).
const MinSCRAMIterations = 4096

// failf returns an error wrapping ErrAuthFailed. Its text is fixed by the
// caller: never a part of a client's response.
func failf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrAuthFailed}, args...)...)
}

// SCRAMCredentials is what a server stores to verify SCRAM-SHA-256 (RFC
// 5802 §3): the salt, the iteration count and the two keys derived from the
// password. The password itself cannot be recovered from them.
type SCRAMCredentials struct {
	Salt       []byte
	Iterations int
	StoredKey  []byte
	ServerKey  []byte
}

// NewSCRAMSHA256Credentials derives SCRAM-SHA-256 credentials from a
// password (normalised with SASLprep, RFC 4013), a salt and an iteration
// count (at least MinSCRAMIterations).
func NewSCRAMSHA256Credentials(password string, salt []byte, iterations int) (SCRAMCredentials, error) {
	if iterations < MinSCRAMIterations {
		return SCRAMCredentials{}, fmt.Errorf("sasl: SCRAM iteration count %d is below %d", iterations, MinSCRAMIterations)
	}
	if len(salt) == 0 {
		return SCRAMCredentials{}, errors.New("sasl: empty SCRAM salt")
	}
	c, err := scram.SHA256.NewClient("user", password, "")
	if err != nil {
		return SCRAMCredentials{}, fmt.Errorf("sasl: password: %w", err)
	}
	sc, err := c.GetStoredCredentialsWithError(scram.KeyFactors{Salt: string(salt), Iters: iterations})
	if err != nil {
		return SCRAMCredentials{}, fmt.Errorf("sasl: %w", err)
	}
	return SCRAMCredentials{Salt: append([]byte(nil), salt...), Iterations: iterations, StoredKey: sc.StoredKey, ServerKey: sc.ServerKey}, nil
}

// VerifyPassword reports whether password is the one c was derived from,
// in constant time. It costs the PBKDF2 iterations of c: a users file line
// holding only a SCRAM verifier still serves USER/PASS, PLAIN and LOGIN.
func (c SCRAMCredentials) VerifyPassword(password string) bool {
	got, err := NewSCRAMSHA256Credentials(password, c.Salt, max(c.Iterations, MinSCRAMIterations))
	if err != nil || c.Iterations < MinSCRAMIterations {
		return false
	}
	return hmac.Equal(got.StoredKey, c.StoredKey) && hmac.Equal(got.ServerKey, c.ServerKey)
}
