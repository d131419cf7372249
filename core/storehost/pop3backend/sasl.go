package pop3backend

import (
	"context"

	"github.com/izyware/izypop3/core/auth/sasl"
	"github.com/izyware/izypop3/core/pop3"
	"github.com/izyware/izypop3/core/pop3/pop3server"
)

var _ pop3server.SASLBackend = (*Backend)(nil)

// SASLMechanisms lists the SASL mechanisms the credential source allows
// (auth.SASL): PLAIN and LOGIN always, CRAM-MD5 when clear passwords are
// known, SCRAM-SHA-256 with stored verifiers, OAUTHBEARER and XOAUTH2 with
// Options.Tokens.
func (b *Backend) SASLMechanisms() []string { return b.sasl.Mechanisms() }

// NewSASL starts an exchange; its Login opens the maildrop of the user it
// authenticated, as Login does.
func (b *Backend) NewSASL(ctx context.Context, mech, remote string) (pop3server.SASLExchange, error) {
	srv, id, err := b.sasl.Start(ctx, mech)
	if err != nil {
		return pop3server.SASLExchange{}, &pop3.Error{Text: "unsupported SASL mechanism"}
	}
	return pop3server.SASLExchange{
		Server: saslServer{srv: srv, b: b, remote: remote},
		Login: func(ctx context.Context) (string, pop3server.Mailbox, error) {
			mb, err := b.open(ctx, id.Mailbox, id.User, remote)
			return id.User, mb, err
		},
	}, nil
}

// saslServer maps the errors of a mechanism as Login does: refusals
// become -ERR [AUTH], anything else stays a logged, SYS/TEMP error.
type saslServer struct {
	srv    sasl.Server
	b      *Backend
	remote string
}

func (s saslServer) Next(response []byte) ([]byte, bool, error) {
	ch, done, err := s.srv.Next(response)
	if err != nil {
		return nil, true, s.b.authError(err, "", s.remote)
	}
	return ch, done, nil
}
