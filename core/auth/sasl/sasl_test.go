package sasl

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// exchange runs cli against srv as a POP3 AUTH would: the initial
// response, then challenge/response until the server is done. It returns
// the server's verdict and the client's error, if the client gave up.
func exchange(t *testing.T, srv Server, cli Client) (serverErr, clientErr error) {
	t.Helper()
	_, ir, err := cli.Start()
	if err != nil {
		return nil, err
	}
	resp := ir
	for i := 0; i < 10; i++ {
		ch, done, err := srv.Next(resp)
		if done || err != nil {
			if !done {
				t.Errorf("server returned an error without done")
			}
			return err, nil
		}
		resp, err = cli.Next(ch)
		if err != nil {
			return nil, err
		}
	}
	t.Fatal("exchange did not end")
	return nil, nil
}

// refused is what callbacks return for bad credentials.
var refused = errors.Join(ErrAuthFailed, errors.New("bad credentials"))

func passwordCheck(user, pass string) error {
	if user == "alice" && pass == "pw 1" {
		return nil
	}
	return refused
}

func TestPasswordMechanisms(t *testing.T) {
	tests := []struct {
		name   string
		server func() Server
		client func(user, pass string) Client
	}{
		{Plain, func() Server {
			return NewPlainServer(func(authzid, user, pass string) error {
				if authzid != "" && authzid != user {
					return refused
				}
				return passwordCheck(user, pass)
			})
		}, func(u, p string) Client { return NewPlainClient("", u, p) }},
		{Login, func() Server { return NewLoginServer(passwordCheck) }, NewLoginClient},
		{CRAMMD5, func() Server {
			var got string
			return NewCRAMMD5Server("pop.test", func(user string) (string, error) {
				if user == "alice" {
					return "pw 1", nil
				}
				return "", refused
			}, func(user string) error {
				got = user
				if got != "alice" {
					return errors.New("verified the wrong user")
				}
				return nil
			})
		}, NewCRAMMD5Client},
		{SCRAMSHA256, func() Server {
			creds, err := NewSCRAMSHA256Credentials("pw 1", []byte("0123456789abcdef"), 4096)
			if err != nil {
				t.Fatal(err)
			}
			return NewSCRAMSHA256Server(func(user string) (SCRAMCredentials, error) {
				if user == "alice" {
					return creds, nil
				}
				other, _ := NewSCRAMSHA256Credentials("random", []byte("fedcba9876543210"), 4096)
				return other, nil
			}, func(authzid, user string) error {
				if user != "alice" || authzid != "" {
					return errors.New("verified the wrong user")
				}
				return nil
			})
		}, func(u, p string) Client {
			c, err := NewSCRAMSHA256Client("", u, p)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if serr, cerr := exchange(t, tt.server(), tt.client("alice", "pw 1")); serr != nil || cerr != nil {
				t.Fatalf("good credentials: server %v, client %v", serr, cerr)
			}
			for _, bad := range [][2]string{{"alice", "pw 2"}, {"bob", "pw 1"}, {"", ""}} {
				serr, cerr := exchange(t, tt.server(), tt.client(bad[0], bad[1]))
				if cerr != nil {
					continue // the client gave up: fine
				}
				if !errors.Is(serr, ErrAuthFailed) {
					t.Errorf("%q/%q: server error %v, want ErrAuthFailed", bad[0], bad[1], serr)
				}
				if serr != nil && strings.Contains(serr.Error(), bad[1]) && bad[1] != "" {
					t.Errorf("error %q quotes the password", serr)
				}
			}
		})
	}
}

func TestTokenMechanisms(t *testing.T) {
	check := func(user, token string) error {
		if token == "tok-good" && (user == "alice" || user == "") {
			return nil
		}
		return refused
	}
	t.Run(OAuthBearer, func(t *testing.T) {
		if serr, cerr := exchange(t, NewOAuthBearerServer(check), NewOAuthBearerClient("alice", "tok-good", "pop.test", 110)); serr != nil || cerr != nil {
			t.Fatalf("good token: server %v, client %v", serr, cerr)
		}
		serr, cerr := exchange(t, NewOAuthBearerServer(check), NewOAuthBearerClient("alice", "tok-bad", "", 0))
		if cerr != nil || !errors.Is(serr, ErrAuthFailed) {
			t.Fatalf("bad token: server %v, client %v", serr, cerr)
		}
	})
	t.Run(XOAuth2, func(t *testing.T) {
		if serr, cerr := exchange(t, NewXOAuth2Server(check), NewXOAuth2Client("alice", "tok-good")); serr != nil || cerr != nil {
			t.Fatalf("good token: server %v, client %v", serr, cerr)
		}
		serr, cerr := exchange(t, NewXOAuth2Server(check), NewXOAuth2Client("alice", "tok-bad"))
		if cerr != nil || !errors.Is(serr, ErrAuthFailed) {
			t.Fatalf("bad token: server %v, client %v", serr, cerr)
		}
	})
}

// TestOperationalErrors: a callback's error that is not a refusal ends the
// exchange at once and is returned as it is.
func TestOperationalErrors(t *testing.T) {
	down := errors.New("token service down")
	for name, srv := range map[string]Server{
		Plain:       NewPlainServer(func(_, _, _ string) error { return down }),
		Login:       NewLoginServer(func(_, _ string) error { return down }),
		OAuthBearer: NewOAuthBearerServer(func(_, _ string) error { return down }),
		XOAuth2:     NewXOAuth2Server(func(_, _ string) error { return down }),
		CRAMMD5:     NewCRAMMD5Server("h", func(string) (string, error) { return "", down }, func(string) error { return nil }),
	} {
		var cli Client
		switch name {
		case Plain:
			cli = NewPlainClient("", "alice", "pw")
		case Login:
			cli = NewLoginClient("alice", "pw")
		case OAuthBearer:
			cli = NewOAuthBearerClient("alice", "tok", "", 0)
		case XOAuth2:
			cli = NewXOAuth2Client("alice", "tok")
		case CRAMMD5:
			cli = NewCRAMMD5Client("alice", "pw")
		}
		serr, cerr := exchange(t, srv, cli)
		if cerr != nil || !errors.Is(serr, down) || errors.Is(serr, ErrAuthFailed) {
			t.Errorf("%s: server %v, client %v; want the callback's error", name, serr, cerr)
		}
	}
}

// TestOAuthBearerEmptyDummy: an empty answer to the error challenge (the
// POP3 client sent an empty line) must fail the exchange, not panic
// go-sasl's server.
func TestOAuthBearerEmptyDummy(t *testing.T) {
	srv := NewOAuthBearerServer(func(_, _ string) error { return refused })
	ch, done, err := srv.Next([]byte("n,a=alice,\x01auth=Bearer x\x01\x01"))
	if done || err != nil || !bytes.Contains(ch, []byte("invalid_token")) {
		t.Fatalf("first step: %q %v %v", ch, done, err)
	}
	for _, resp := range [][]byte{{}, nil} {
		srv := NewOAuthBearerServer(func(_, _ string) error { return refused })
		srv.Next([]byte("n,a=alice,\x01auth=Bearer x\x01\x01"))
		if _, done, err := srv.Next(resp); !done || !errors.Is(err, ErrAuthFailed) {
			t.Errorf("dummy %q: done %v err %v", resp, done, err)
		}
	}
}

// TestMalformedNeverQuoted: a malformed response's text never reaches the
// error (it may hold a token or a password).
func TestMalformedNeverQuoted(t *testing.T) {
	secret := "S3CRET=token=="
	inputs := [][]byte{
		[]byte("n,,\x01" + secret + "\x01\x01"),
		[]byte("n,,\x01auth=" + secret + "\x01\x01"),
		[]byte("user=x\x01auth=" + secret + "\x01\x01"),
		[]byte(secret),
		[]byte("\x00" + secret),
	}
	for _, in := range inputs {
		for name, mk := range map[string]func() Server{
			OAuthBearer: func() Server { return NewOAuthBearerServer(func(_, _ string) error { return nil }) },
			XOAuth2:     func() Server { return NewXOAuth2Server(func(_, _ string) error { return nil }) },
			Plain:       func() Server { return NewPlainServer(func(_, _, _ string) error { return nil }) },
			SCRAMSHA256: func() Server {
				return NewSCRAMSHA256Server(func(string) (SCRAMCredentials, error) { return SCRAMCredentials{}, nil }, func(_, _ string) error { return nil })
			},
		} {
			srv := mk()
			resp := in
			for i := 0; i < 4; i++ {
				_, done, err := srv.Next(resp)
				if err != nil && strings.Contains(err.Error(), "S3CRET") {
					t.Errorf("%s: error %q quotes the response", name, err)
				}
				if done {
					break
				}
				resp = []byte{}
			}
		}
	}
}

func TestSCRAMCredentials(t *testing.T) {
	if _, err := NewSCRAMSHA256Credentials("pw", []byte("salt"), 1000); err == nil {
		t.Error("1000 iterations accepted")
	}
	c, err := NewSCRAMSHA256Credentials("pw", []byte("salt"), 4096)
	if err != nil {
		t.Fatal(err)
	}
	if !c.VerifyPassword("pw") || c.VerifyPassword("pW") || c.VerifyPassword("") {
		t.Error("VerifyPassword is wrong")
	}
}

// TestSCRAMServerMustProve: a client talking to a server that does not
// hold the verifier (it answers with a made-up server signature) fails.
func TestSCRAMServerMustProve(t *testing.T) {
	cli, err := NewSCRAMSHA256Client("", "alice", "pw")
	if err != nil {
		t.Fatal(err)
	}
	_, first, _ := cli.Start()
	nonce := string(first[strings.Index(string(first), "r=")+2:])
	if _, err := cli.Next([]byte("r=" + nonce + "srv,s=c2FsdHNhbHQ=,i=4096")); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Next([]byte("v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")); !errors.Is(err, ErrServerNotVerified) {
		t.Fatalf("forged server signature: %v", err)
	}
	// Too few iterations.
	cli, _ = NewSCRAMSHA256Client("", "alice", "pw")
	_, first, _ = cli.Start()
	nonce = string(first[strings.Index(string(first), "r=")+2:])
	if _, err := cli.Next([]byte("r=" + nonce + "srv,s=c2FsdHNhbHQ=,i=1")); err == nil {
		t.Fatal("1 iteration accepted")
	}
}

func TestLoginServerChallenges(t *testing.T) {
	s := NewLoginServer(passwordCheck)
	ch, done, err := s.Next(nil)
	if string(ch) != "Username:" || done || err != nil {
		t.Fatalf("first: %q %v %v", ch, done, err)
	}
	ch, done, err = s.Next([]byte("alice"))
	if string(ch) != "Password:" || done || err != nil {
		t.Fatalf("second: %q %v %v", ch, done, err)
	}
	if _, done, err := s.Next([]byte("pw 1")); !done || err != nil {
		t.Fatalf("third: %v %v", done, err)
	}
	if _, done, err := s.Next([]byte("x")); !done || err == nil {
		t.Fatalf("after the end: %v %v", done, err)
	}
}

func TestCRAMMD5RejectsInitialResponse(t *testing.T) {
	s := NewCRAMMD5Server("h", func(string) (string, error) { return "pw", nil }, func(string) error { return nil })
	if _, done, err := s.Next([]byte("x")); !done || !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("initial response: %v %v", done, err)
	}
}
