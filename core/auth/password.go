package auth

import (
	"context"
	"errors"
	"fmt"
)

// Password is the seed's authentication mode: every valid user name is
// accepted with one shared password, and the user name is the mailbox.
type Password struct {
	secret string
}

var (
	_ Authenticator = (*Password)(nil)
	_ APOPSecreter  = (*Password)(nil)
)

// NewPassword returns a Password authenticator for the shared password pw,
// which must not be empty.
func NewPassword(pw string) (*Password, error) {
	if pw == "" {
		return nil, errors.New("auth: empty password")
	}
	return &Password{secret: pw}, nil
}

// Authenticate accepts any valid user name with the shared password and
// returns the user name as the mailbox.
func (p *Password) Authenticate(ctx context.Context, user, pass string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	// Compare first so that the time taken does not depend on the name.
	ok := equalSecret(pass, p.secret)
	if err := ValidateUser(user); err != nil {
		return "", fmt.Errorf("%w: %w", ErrAuthFailed, err)
	}
	if !ok {
		return "", failed("wrong password")
	}
	return user, nil
}

// APOPSecret returns the shared password for any valid user name.
func (p *Password) APOPSecret(user string) (string, bool) {
	if ValidateUser(user) != nil {
		return "", false
	}
	return p.secret, true
}
