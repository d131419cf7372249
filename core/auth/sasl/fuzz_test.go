package sasl

import (
	"bytes"
	"errors"
	"testing"
)

// fuzzServer drives a server with the responses in data (split at "\n";
// a leading "-" makes the first response nil: no initial response) and
// checks the invariants every mechanism must keep: no panic, an end within
// a few steps, and success only when the mechanism's callback accepted.
func fuzzServer(f *testing.F, seeds []string, mk func(accepted *bool) Server) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var accepted bool
		srv := mk(&accepted)
		parts := bytes.Split(data, []byte("\n"))
		var resp []byte = parts[0]
		if bytes.Equal(resp, []byte("-")) {
			resp = nil
		}
		parts = parts[1:]
		for step := 0; ; step++ {
			if step > 8 {
				t.Fatal("no end after 8 steps")
			}
			_, done, err := srv.Next(resp)
			if err != nil && !done {
				t.Fatal("error without done")
			}
			if done {
				if err == nil && !accepted {
					t.Fatal("success without the callback's approval")
				}
				for _, late := range [][]byte{[]byte("x"), {}, nil} {
					if _, done2, err2 := srv.Next(late); !done2 || err2 == nil {
						t.Fatalf("Next(%q) after the end did not fail", late)
					}
				}
				return
			}
			if len(parts) == 0 {
				resp = []byte{}
			} else {
				resp, parts = parts[0], parts[1:]
			}
		}
	})
}

var errRefused = errors.Join(ErrAuthFailed, errors.New("refused"))

func FuzzPlainServer(f *testing.F) {
	fuzzServer(f, []string{"\x00alice\x00pw", "-\n\x00alice\x00pw", "a\x00b\x00c\x00d", ""}, func(ok *bool) Server {
		return NewPlainServer(func(_, user, pass string) error {
			if user == "alice" && pass == "pw" {
				*ok = true
				return nil
			}
			return errRefused
		})
	})
}

func FuzzLoginServer(f *testing.F) {
	fuzzServer(f, []string{"alice\npw", "-\nalice\npw", "-\n\n"}, func(ok *bool) Server {
		return NewLoginServer(func(user, pass string) error {
			if user == "alice" && pass == "pw" {
				*ok = true
				return nil
			}
			return errRefused
		})
	})
}

func FuzzCRAMMD5Server(f *testing.F) {
	fuzzServer(f, []string{"-\nalice 0123456789abcdef0123456789abcdef", "-\n 0123456789abcdef0123456789abcdef", "x"}, func(ok *bool) Server {
		return NewCRAMMD5Server("h", func(user string) (string, error) {
			if user == "alice" {
				return "pw", nil
			}
			return "", errRefused
		}, func(string) error { *ok = true; return nil })
	})
}

func FuzzSCRAMServer(f *testing.F) {
	creds, err := NewSCRAMSHA256Credentials("pw", []byte("saltsaltsaltsalt"), 4096)
	if err != nil {
		f.Fatal(err)
	}
	fuzzServer(f, []string{"n,,n=alice,r=abc\nc=biws,r=abcdef,p=AAAA\n", "-\nn,,n=alice,r=abc", "y,,n=a,r=b", "p=tls-unique,,n=a,r=b"}, func(ok *bool) Server {
		return NewSCRAMSHA256Server(func(string) (SCRAMCredentials, error) { return creds, nil },
			func(_, _ string) error { *ok = true; return nil })
	})
}

func FuzzOAuthBearerServer(f *testing.F) {
	fuzzServer(f, []string{"n,a=alice,\x01auth=Bearer tok\x01\x01", "n,,\x01host=h\x01port=1\x01auth=Bearer x\x01\x01\n\x01", "-\nn,,\x01\x01\n", "n,a=,\x01auth=bearer \x01\x01\n"}, func(ok *bool) Server {
		return NewOAuthBearerServer(func(_, token string) error {
			if token == "tok" {
				*ok = true
				return nil
			}
			return errRefused
		})
	})
}

func FuzzXOAuth2Server(f *testing.F) {
	fuzzServer(f, []string{"user=alice\x01auth=Bearer tok\x01\x01", "user=a\x01auth=Bearer x\x01\x01\n", "-\nuser=\x01auth=Bearer\x01\x01"}, func(ok *bool) Server {
		return NewXOAuth2Server(func(_, token string) error {
			if token == "tok" {
				*ok = true
				return nil
			}
			return errRefused
		})
	})
}
