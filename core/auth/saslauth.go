package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"

	"github.com/izyware/izypop3/core/auth/sasl"
)

// SASL runs the SASL mechanisms (core/auth/sasl) that a credential source
// allows:
//
//   - PLAIN and LOGIN: always, checked by Auth.Authenticate;
//   - CRAM-MD5: when Auth knows clear passwords (APOPSecreter);
//   - SCRAM-SHA-256: when Auth holds SCRAM verifiers (SCRAMSecreter and
//     HasSCRAM);
//   - OAUTHBEARER and XOAUTH2: when Tokens is set.
//
// Every user name a mechanism extracts goes through ValidateUser before
// any check, and so does every mailbox a check returns. The zero value is
// not usable: set Auth.
type SASL struct {
	// Auth checks passwords. Required.
	Auth Authenticator
	// Tokens checks bearer tokens. Nil: no token mechanisms.
	Tokens TokenAuthenticator
	// Hostname goes into CRAM-MD5 challenges. Default: os.Hostname().
	Hostname string

	fakeOnce sync.Once
	fakeKey  []byte // keys the made-up SCRAM credentials of unknown users
}

// Identity is who a SASL exchange authenticated, filled in when it
// succeeds.
type Identity struct {
	User    string // the authenticated user name, for logs and limits
	Mailbox string // the mailbox the user may open
}

// Mechanisms returns the mechanisms s offers, strongest first.
func (s *SASL) Mechanisms() []string {
	var out []string
	for _, m := range sasl.Mechanisms {
		if s.offers(m) {
			out = append(out, m)
		}
	}
	return out
}

func (s *SASL) offers(mech string) bool {
	switch mech {
	case sasl.Plain, sasl.Login:
		return s.Auth != nil
	case sasl.CRAMMD5:
		_, ok := s.Auth.(APOPSecreter)
		return ok
	case sasl.SCRAMSHA256:
		sc, ok := s.Auth.(SCRAMSecreter)
		return ok && sc.HasSCRAM()
	case sasl.OAuthBearer, sasl.XOAuth2:
		return s.Tokens != nil
	}
	return false
}

// ErrUnsupportedMechanism is returned by Start for a mechanism s does not
// offer.
var ErrUnsupportedMechanism = errors.New("auth: SASL mechanism not offered")

// Start returns the server half of mech and the Identity it fills in when
// the exchange succeeds. ctx bounds every check the exchange makes. The
// server's errors wrap ErrAuthFailed for refused credentials and malformed
// exchanges; any other error is an operational failure (a store or a token
// service that cannot be reached).
func (s *SASL) Start(ctx context.Context, mech string) (sasl.Server, *Identity, error) {
	if !slices.Contains(s.Mechanisms(), mech) {
		return nil, nil, ErrUnsupportedMechanism
	}
	id := &Identity{}
	password := func(authzid, user, pass string) error {
		if authzid != "" && authzid != user {
			return failed("authorization identity differs from the user")
		}
		if err := ValidateUser(user); err != nil {
			return fmt.Errorf("%w: %w", ErrAuthFailed, err)
		}
		mb, err := s.Auth.Authenticate(ctx, user, pass)
		if err != nil {
			return err
		}
		return id.set(user, mb)
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(password), id, nil
	case sasl.Login:
		return sasl.NewLoginServer(func(user, pass string) error { return password("", user, pass) }), id, nil
	case sasl.CRAMMD5:
		secrets := s.Auth.(APOPSecreter)
		secret := func(user string) (string, error) {
			if err := ValidateUser(user); err != nil {
				return "", fmt.Errorf("%w: %w", ErrAuthFailed, err)
			}
			pw, ok := secrets.APOPSecret(user)
			if !ok {
				return "", failed("unknown user")
			}
			return pw, nil
		}
		verified := func(user string) error {
			pw, _ := secrets.APOPSecret(user)
			return password("", user, pw)
		}
		return sasl.NewCRAMMD5Server(s.hostname(), secret, verified), id, nil
	case sasl.SCRAMSHA256:
		store := s.Auth.(SCRAMSecreter)
		var mailbox string
		lookup := func(user string) (sasl.SCRAMCredentials, error) {
			if ValidateUser(user) == nil {
				if c, mb, ok := store.SCRAMCredentials(user); ok {
					mailbox = mb
					return c, nil
				}
			}
			// Unknown: made-up credentials, stable per name, so that the
			// exchange fails at the proof like a wrong password.
			mailbox = ""
			return s.fakeSCRAM(user), nil
		}
		verified := func(authzid, user string) error {
			if authzid != "" && authzid != user {
				return failed("authorization identity differs from the user")
			}
			if mailbox == "" {
				return failed("unknown user")
			}
			return id.set(user, mailbox)
		}
		return sasl.NewSCRAMSHA256Server(lookup, verified), id, nil
	case sasl.OAuthBearer, sasl.XOAuth2:
		check := func(user, token string) error {
			if user != "" {
				if err := ValidateUser(user); err != nil {
					return fmt.Errorf("%w: %w", ErrAuthFailed, err)
				}
			}
			if token == "" {
				return failed("empty token")
			}
			mb, err := s.Tokens.AuthenticateToken(ctx, user, token)
			if err != nil {
				return err
			}
			if user == "" {
				user = mb
			}
			return id.set(user, mb)
		}
		if mech == sasl.XOAuth2 {
			return sasl.NewXOAuth2Server(check), id, nil
		}
		return sasl.NewOAuthBearerServer(check), id, nil
	}
	return nil, nil, ErrUnsupportedMechanism
}

// set records a successful check, once the names are checked too.
func (id *Identity) set(user, mailbox string) error {
	if err := ValidateUser(user); err != nil {
		return fmt.Errorf("%w: %w", ErrAuthFailed, err)
	}
	if err := ValidateUser(mailbox); err != nil {
		return fmt.Errorf("auth: the credential check returned an invalid mailbox name: %w", err)
	}
	id.User, id.Mailbox = user, mailbox
	return nil
}

func (s *SASL) hostname() string {
	if s.Hostname != "" {
		return s.Hostname
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "localhost"
}

// fakeSCRAM returns made-up SCRAM credentials for a name without a
// verifier: the salt is derived from the name with a key of this process,
// so that asking twice gives the same salt (a real user's salt never
// changes either), and the keys match no password.
func (s *SASL) fakeSCRAM(user string) sasl.SCRAMCredentials {
	s.fakeOnce.Do(func() {
		s.fakeKey = make([]byte, 32)
		rand.Read(s.fakeKey)
	})
	mac := hmac.New(sha256.New, s.fakeKey)
	mac.Write([]byte(user))
	sum := mac.Sum(nil)
	keys := make([]byte, 64)
	rand.Read(keys)
	return sasl.SCRAMCredentials{Salt: sum[:saltLen], Iterations: scramIterations, StoredKey: keys[:32], ServerKey: keys[32:]}
}
