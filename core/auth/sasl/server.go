package sasl

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	gosasl "github.com/emersion/go-sasl"
	"github.com/xdg-go/scram"
)

// NewPlainServer returns the server half of PLAIN (RFC 4616; go-sasl's).
// check is given the authorization identity (often empty), the user name
// and the password.
func NewPlainServer(check func(authzid, user, pass string) error) Server {
	var cbErr error
	s := gosasl.NewPlainServer(func(authzid, user, pass string) error {
		cbErr = check(authzid, user, pass)
		return cbErr
	})
	return finish(&adapted{srv: s, mech: Plain, cbErr: &cbErr})
}

// finish wraps a server so that once it reported done (or an error) every
// further Next fails: no mechanism can be talked into a late success.
func finish(s Server) Server { return &finished{s: s} }

type finished struct {
	s    Server
	over bool
}

func (f *finished) Next(response []byte) ([]byte, bool, error) {
	if f.over {
		return nil, true, failf("exchange already finished")
	}
	ch, done, err := f.s.Next(response)
	if done || err != nil {
		f.over = true
		return nil, true, err
	}
	return ch, false, nil
}

// adapted runs a go-sasl server and keeps its error texts, which may quote
// a client's response, off the caller's logs: a callback's error is passed
// on as it is, any other error becomes a fixed text wrapping ErrAuthFailed.
type adapted struct {
	srv   Server
	mech  string
	cbErr *error // the last error the callback returned
	done  bool
}

func (a *adapted) Next(response []byte) ([]byte, bool, error) {
	if a.done {
		return nil, true, failf("%s exchange already finished", a.mech)
	}
	*a.cbErr = nil
	ch, done, err := a.srv.Next(response)
	if err != nil {
		a.done = true
		if *a.cbErr != nil && errors.Is(err, *a.cbErr) {
			return nil, true, *a.cbErr
		}
		return nil, true, failf("malformed %s response", a.mech)
	}
	a.done = done
	return ch, done, nil
}

// NewLoginServer returns the server half of LOGIN (draft-murchison-sasl-
// login): the challenges "Username:" and "Password:", the user name taken
// from the initial response when there is one. Written here: go-sasl has
// only the client.
func NewLoginServer(check func(user, pass string) error) Server {
	return finish(&loginServer{check: check})
}

type loginServer struct {
	check func(user, pass string) error
	step  int
	user  string
}

func (s *loginServer) Next(response []byte) ([]byte, bool, error) {
	switch s.step {
	case 0:
		s.step = 1
		if response == nil {
			return []byte("Username:"), false, nil
		}
		fallthrough
	case 1:
		s.step = 2
		s.user = string(response)
		return []byte("Password:"), false, nil
	case 2:
		s.step = 3
		return nil, true, s.check(s.user, string(response))
	}
	return nil, true, failf("LOGIN exchange already finished")
}

// NewCRAMMD5Server returns the server half of CRAM-MD5 (RFC 2195): a
// challenge "<random.time@host>", then a response "user hex-digest" with
// digest = HMAC-MD5(password, challenge). secret returns the user's clear
// password, or an error (wrapping ErrAuthFailed for an unknown user: the
// digest is then compared against a random secret, so that the time taken
// does not tell). verified is called once the digest matched. Written here:
// go-sasl has no CRAM-MD5.
func NewCRAMMD5Server(host string, secret func(user string) (string, error), verified func(user string) error) Server {
	return finish(&cramServer{host: host, secret: secret, verified: verified})
}

type cramServer struct {
	host      string
	secret    func(string) (string, error)
	verified  func(string) error
	challenge []byte
	step      int
}

func (s *cramServer) Next(response []byte) ([]byte, bool, error) {
	switch s.step {
	case 0:
		s.step = 1
		if response != nil {
			return nil, true, failf("CRAM-MD5 takes no initial response")
		}
		s.challenge = []byte(fmt.Sprintf("<%s.%d@%s>", rand.Text(), time.Now().Unix(), s.host))
		return s.challenge, false, nil
	case 1:
		s.step = 2
		i := bytes.LastIndexByte(response, ' ')
		if i <= 0 || len(response)-i-1 != 2*md5.Size {
			return nil, true, failf("malformed CRAM-MD5 response")
		}
		user := string(response[:i])
		digest := bytes.ToLower(response[i+1:])
		pw, err := s.secret(user)
		known := err == nil
		if !known {
			if !errors.Is(err, ErrAuthFailed) {
				return nil, true, err
			}
			pw = rand.Text()
		}
		mac := hmac.New(md5.New, []byte(pw))
		mac.Write(s.challenge)
		want := make([]byte, 2*md5.Size)
		hex.Encode(want, mac.Sum(nil))
		if !hmac.Equal(want, digest) || !known {
			if !known {
				return nil, true, err
			}
			return nil, true, failf("wrong CRAM-MD5 digest")
		}
		return nil, true, s.verified(user)
	}
	return nil, true, failf("CRAM-MD5 exchange already finished")
}

// NewSCRAMSHA256Server returns the server half of SCRAM-SHA-256 (RFC 7677;
// github.com/xdg-go/scram, adapted to the Next shape). lookup returns the
// stored credentials of a user. It should not fail for an unknown user but
// return made-up credentials, so that the exchange fails at the proof like
// a wrong password and does not tell which names exist; an error from it
// ends the exchange as it is. verified is called once the client's proof
// matched. The server's final message ("v=...") is sent as a challenge
// answered by an empty response (RFC 5034 §4 has no additional data with
// success).
func NewSCRAMSHA256Server(lookup func(user string) (SCRAMCredentials, error), verified func(authzid, user string) error) Server {
	s := &scramServer{verified: verified}
	srv, err := scram.SHA256.NewServer(func(user string) (scram.StoredCredentials, error) {
		c, err := lookup(user)
		if err != nil {
			s.lookupErr = err
			return scram.StoredCredentials{}, err
		}
		return scram.StoredCredentials{
			KeyFactors: scram.KeyFactors{Salt: string(c.Salt), Iters: c.Iterations},
			StoredKey:  c.StoredKey,
			ServerKey:  c.ServerKey,
		}, nil
	})
	if err != nil {
		panic(err) // NewServer fails for no input
	}
	s.conv = srv.NewConversation()
	return finish(s)
}

type scramServer struct {
	conv      *scram.ServerConversation
	verified  func(authzid, user string) error
	lookupErr error
	step      int
}

func (s *scramServer) Next(response []byte) ([]byte, bool, error) {
	switch s.step {
	case 0:
		if response == nil {
			// No initial response: an empty challenge asks for it.
			s.step = 1
			return []byte{}, false, nil
		}
		fallthrough
	case 1:
		s.step = 2
		first, err := s.conv.Step(string(response))
		if err != nil {
			if s.lookupErr != nil {
				return nil, true, s.lookupErr
			}
			return nil, true, failf("malformed SCRAM-SHA-256 client-first message")
		}
		return []byte(first), false, nil
	case 2:
		s.step = 3
		final, err := s.conv.Step(string(response))
		if err != nil || !s.conv.Valid() {
			return nil, true, failf("SCRAM-SHA-256 proof rejected")
		}
		if err := s.verified(s.conv.AuthzID(), s.conv.Username()); err != nil {
			return nil, true, err
		}
		return []byte(final), false, nil
	case 3:
		s.step = 4
		if len(response) != 0 {
			return nil, true, failf("SCRAM-SHA-256: the last response must be empty")
		}
		return nil, true, nil
	}
	return nil, true, failf("SCRAM-SHA-256 exchange already finished")
}

// The status and schemes of the JSON error challenge OAUTHBEARER sends for
// a refused token (RFC 7628 §3.2.2).
const (
	refusedStatus  = "invalid_token"
	refusedSchemes = "bearer"
)

// NewOAuthBearerServer returns the server half of OAUTHBEARER (RFC 7628;
// go-sasl's, wrapped). check is given the authorization identity of the
// GS2 header (empty when the client sent none) and the bearer token. A
// token refused (an error wrapping ErrAuthFailed) is answered with the
// RFC's JSON error challenge; the exchange then fails on the client's
// dummy response. Any other error from check ends the exchange at once.
func NewOAuthBearerServer(check func(authzid, token string) error) Server {
	s := &bearerServer{}
	s.srv = gosasl.NewOAuthBearerServer(func(o gosasl.OAuthBearerOptions) *gosasl.OAuthBearerError {
		if err := check(o.Username, o.Token); err != nil {
			s.cbErr = err
			return &gosasl.OAuthBearerError{Status: refusedStatus, Schemes: refusedSchemes}
		}
		return nil
	})
	return finish(s)
}

type bearerServer struct {
	srv     Server
	cbErr   error
	started bool
	done    bool
}

func (s *bearerServer) Next(response []byte) ([]byte, bool, error) {
	if s.done {
		return nil, true, failf("OAUTHBEARER exchange already finished")
	}
	if s.started && len(response) == 0 {
		// go-sasl's server indexes the dummy response without checking its
		// length: an empty one would panic. The RFC's dummy is 0x01.
		response = []byte{0x01}
	}
	s.started = s.started || response != nil
	ch, done, err := s.srv.Next(response)
	switch {
	case s.cbErr != nil && !errors.Is(s.cbErr, ErrAuthFailed):
		s.done = true
		return nil, true, s.cbErr // an operational failure: no dance
	case err != nil:
		s.done = true
		if s.cbErr != nil {
			return nil, true, s.cbErr
		}
		return nil, true, failf("malformed OAUTHBEARER response")
	}
	s.done = done
	return ch, done, nil
}

// NewXOAuth2Server returns the server half of XOAUTH2 (the initial response
// "user=" user 0x01 "auth=Bearer " token 0x01 0x01). check is given the user
// and the token; its error ends the exchange at once. Google's servers
// send a JSON error challenge first, but curl (7.88) drops the connection
// on it instead of answering, and then never sees the -ERR [AUTH]: the
// refusal is answered at once here. Written here: go-sasl has no XOAUTH2.
func NewXOAuth2Server(check func(user, token string) error) Server {
	return finish(&xoauth2Server{check: check})
}

type xoauth2Server struct {
	check func(user, token string) error
	step  int
}

func (s *xoauth2Server) Next(response []byte) ([]byte, bool, error) {
	if s.step == 0 && response == nil {
		s.step = 1
		return []byte{}, false, nil
	}
	user, token, ok := parseXOAuth2(response)
	if !ok {
		return nil, true, failf("malformed XOAUTH2 response")
	}
	return nil, true, s.check(user, token)
}

// parseXOAuth2 splits an XOAUTH2 initial response.
func parseXOAuth2(b []byte) (user, token string, ok bool) {
	s := string(b)
	if !strings.HasSuffix(s, "\x01\x01") {
		return "", "", false
	}
	fields := strings.Split(strings.TrimSuffix(s, "\x01\x01"), "\x01")
	var haveUser, haveAuth bool
	for _, f := range fields {
		k, v, found := strings.Cut(f, "=")
		if !found {
			return "", "", false
		}
		switch k {
		case "user":
			user, haveUser = v, true
		case "auth":
			scheme, tok, found := strings.Cut(v, " ")
			if !found || !strings.EqualFold(scheme, "Bearer") || tok == "" {
				return "", "", false
			}
			token, haveAuth = tok, true
		}
	}
	return user, token, haveUser && haveAuth && user != ""
}
