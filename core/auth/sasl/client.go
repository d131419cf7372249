package sasl

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	gosasl "github.com/emersion/go-sasl"
	"github.com/xdg-go/scram"
)

// NewPlainClient returns the client half of PLAIN (RFC 4616; go-sasl's).
// authzid is usually empty (act as user).
func NewPlainClient(authzid, user, pass string) Client {
	return gosasl.NewPlainClient(authzid, user, pass)
}

// NewLoginClient returns the client half of LOGIN (go-sasl's): the user
// name as initial response, the password as the answer to "Password:".
func NewLoginClient(user, pass string) Client {
	return gosasl.NewLoginClient(user, pass)
}

// NewCRAMMD5Client returns the client half of CRAM-MD5 (RFC 2195). Written
// here: go-sasl has no CRAM-MD5.
func NewCRAMMD5Client(user, secret string) Client {
	return &cramClient{user: user, secret: secret}
}

type cramClient struct {
	user, secret string
	answered     bool
}

func (c *cramClient) Start() (string, []byte, error) { return CRAMMD5, nil, nil }

func (c *cramClient) Next(challenge []byte) ([]byte, error) {
	if c.answered {
		return nil, gosasl.ErrUnexpectedServerChallenge
	}
	c.answered = true
	mac := hmac.New(md5.New, []byte(c.secret))
	mac.Write(challenge)
	return []byte(c.user + " " + hex.EncodeToString(mac.Sum(nil))), nil
}

// NewSCRAMSHA256Client returns the client half of SCRAM-SHA-256 (RFC 7677;
// github.com/xdg-go/scram, adapted to the Start/Next shape). The user name
// and password are normalised with SASLprep. The exchange fails with
// ErrServerNotVerified unless the server proves it holds the user's
// verifier, and when the server asks for fewer than MinSCRAMIterations.
func NewSCRAMSHA256Client(authzid, user, pass string) (Client, error) {
	c, err := scram.SHA256.NewClient(user, pass, authzid)
	if err != nil {
		return nil, fmt.Errorf("sasl: SCRAM-SHA-256: %w", err)
	}
	return &scramClient{conv: c.WithMinIterations(MinSCRAMIterations).NewConversation()}, nil
}

type scramClient struct {
	conv *scram.ClientConversation
	step int
}

func (c *scramClient) Start() (string, []byte, error) {
	first, err := c.conv.Step("")
	if err != nil {
		return "", nil, fmt.Errorf("sasl: SCRAM-SHA-256: %w", err)
	}
	c.step = 1
	return SCRAMSHA256, []byte(first), nil
}

func (c *scramClient) Next(challenge []byte) ([]byte, error) {
	switch c.step {
	case 1:
		c.step = 2
		final, err := c.conv.Step(string(challenge))
		if err != nil {
			return nil, fmt.Errorf("sasl: SCRAM-SHA-256 server-first message: %w", err)
		}
		return []byte(final), nil
	case 2:
		c.step = 3
		if _, err := c.conv.Step(string(challenge)); err != nil || !c.conv.Valid() {
			return nil, ErrServerNotVerified
		}
		return []byte{}, nil
	}
	return nil, gosasl.ErrUnexpectedServerChallenge
}

// NewOAuthBearerClient returns the client half of OAUTHBEARER (RFC 7628;
// go-sasl's, wrapped). user goes into the GS2 header as the authorization
// identity (may be empty); host and port (may be empty, 0) are sent when
// given. When the server refuses the token with a JSON error challenge,
// the client answers with the RFC's dummy response (0x01), so that the
// server ends the exchange with -ERR.
func NewOAuthBearerClient(user, token, host string, port int) Client {
	return &bearerClient{Client: gosasl.NewOAuthBearerClient(&gosasl.OAuthBearerOptions{Username: user, Token: token, Host: host, Port: port})}
}

type bearerClient struct {
	gosasl.Client
	answered bool
}

func (c *bearerClient) Next(challenge []byte) ([]byte, error) {
	if c.answered {
		return nil, gosasl.ErrUnexpectedServerChallenge
	}
	c.answered = true
	var e gosasl.OAuthBearerError
	if err := json.Unmarshal(challenge, &e); err != nil {
		return nil, errors.New("sasl: OAUTHBEARER: the server's challenge is not a JSON error")
	}
	return []byte{0x01}, nil
}

// NewXOAuth2Client returns the client half of XOAUTH2. When the server
// refuses the token with a JSON challenge, the client answers with an empty
// response and the server ends the exchange with -ERR. Written here: go-sasl
// has no XOAUTH2.
func NewXOAuth2Client(user, token string) Client {
	return &xoauth2Client{user: user, token: token}
}

type xoauth2Client struct {
	user, token string
	answered    bool
}

func (c *xoauth2Client) Start() (string, []byte, error) {
	return XOAuth2, []byte("user=" + c.user + "\x01auth=Bearer " + c.token + "\x01\x01"), nil
}

func (c *xoauth2Client) Next(challenge []byte) ([]byte, error) {
	if c.answered {
		return nil, gosasl.ErrUnexpectedServerChallenge
	}
	c.answered = true
	return []byte{}, nil
}
