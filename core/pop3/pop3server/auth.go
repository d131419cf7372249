package pop3server

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/izyware/izypop3/core/pop3"
	"github.com/izyware/izypop3/core/pop3/wire"
)

// MaxSASLLine is the longest SASL response line accepted during AUTH, in
// octets without CRLF. RFC 5034 §4 exempts responses from the 255-octet
// command limit; OAuth tokens in particular run to a few kilobytes.
const MaxSASLLine = 16 << 10

// cleartextMechs send a password or a bearer token that anyone on the
// path could replay; like USER/PASS they need TLS or loopback (RFC 2595
// §2.2, RFC 7628 §5).
var cleartextMechs = []string{"PLAIN", "LOGIN", "OAUTHBEARER", "XOAUTH2"}

// cleartextAllowed returns nil when a password may be sent in the clear on
// this connection: it is TLS, comes from loopback, or
// Options.AllowInsecureAuth is set. Otherwise it returns the reply that
// says why not.
func (s *session) cleartextAllowed() error {
	if s.isTLS || s.local || s.srv.opts.AllowInsecureAuth {
		return nil
	}
	if s.srv.opts.TLSConfig != nil {
		return &pop3.Error{Code: pop3.CodeAuth, Text: "use STLS first"}
	}
	return &pop3.Error{Code: pop3.CodeAuth, Text: "cleartext login refused on an unencrypted connection"}
}

// saslMechanisms returns the mechanisms offered on this connection.
func (s *session) saslMechanisms() []string {
	sb, ok := s.srv.opts.Backend.(SASLBackend)
	if !ok {
		return nil
	}
	clearOK := s.cleartextAllowed() == nil
	var out []string
	for _, m := range s.srv.backendMechanisms(sb) {
		if clearOK || !slices.Contains(cleartextMechs, m) {
			out = append(out, m)
		}
	}
	return out
}

// backendMechanisms returns the mechanisms of sb that Options.SASLMechanisms
// allows.
func (s *Server) backendMechanisms(sb SASLBackend) []string {
	all := sb.SASLMechanisms()
	if s.opts.SASLMechanisms == nil {
		return all
	}
	var out []string
	for _, m := range all {
		if slices.Contains(s.opts.SASLMechanisms, m) {
			out = append(out, m)
		}
	}
	return out
}

// errBusy answers a login that could not get its turn in time.
var errBusy = &pop3.Error{Code: pop3.CodeSysTemp, Text: "too many login attempts from your address, try again later"}

// checkCredentials runs f, a call that checks credentials, in the turn of
// the session's remote address: one check at a time per address, and none
// before the delay earned by the address's failed logins is over.
func (s *session) checkCredentials(f func() error) error {
	ctx, cancel := context.WithDeadline(s.srv.ctx, s.authDeadline)
	defer cancel()
	release, err := s.srv.addrs.turn(ctx, s.addr)
	if err != nil {
		s.log.Info("login attempt waited too long for its turn")
		return errBusy
	}
	defer release()
	return f()
}

// loginFailed maps the error of a failed login. Its logs never carry the
// user name: it may be a password typed into the wrong field.
func (s *session) loginFailed(mech string, err error) error {
	log := s.log.With("mech", mech)
	var pe *pop3.Error
	if !errors.As(err, &pe) {
		log.Error("login failed: backend error", "err", err)
		return errTemp
	}
	if pe.Code != pop3.CodeAuth {
		log.Info("login refused", "code", pe.Code)
		return pe
	}
	return s.authFailed(log, pe)
}

// authFailed handles refused credentials: the address's growing delay
// passes before the answer, what the client pipelined behind the attempt
// is discarded unread (it was sent before the client saw the failure), and
// after MaxAuthFailures the connection is closed.
func (s *session) authFailed(log *slog.Logger, pe *pop3.Error) error {
	d := s.srv.addrs.failed(s.addr, s.srv.opts.AuthFailDelay, s.srv.opts.MaxAuthFailDelay)
	s.authFailures++
	log.Info("login failed: bad credentials", "failures", s.authFailures, "delay", d.String())
	s.sleep(d)
	if n := s.br.Buffered(); n > 0 {
		s.br.Discard(n)
		log.Info("discarded commands pipelined behind a failed login", "octets", n)
	}
	if s.authFailures >= s.srv.opts.MaxAuthFailures {
		s.writeLine(pe.Line())
		log.Info("too many failed logins; connection closed", "failures", s.authFailures)
		s.farewell("-ERR too many failed logins, closing connection")
		return errCloseConn
	}
	return pe
}

// sleep pauses for d, unless the server is closing.
func (s *session) sleep(d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.srv.ctx.Done():
	}
}

// handleAuth: RFC 5034 AUTH mechanism [initial-response]; without an
// argument, the list of mechanisms (RFC 1734 §2, which some clients still
// send).
func (s *session) handleAuth(cmd wire.Command) error {
	if err := s.checkState(StateAuthorization); err != nil {
		return err
	}
	sb, _ := s.srv.opts.Backend.(SASLBackend)
	if sb == nil {
		return &pop3.Error{Text: "SASL authentication not supported"}
	}
	if len(cmd.Args) == 0 {
		s.writeLine("+OK SASL mechanisms follow")
		s.dw.Reset(s.bw)
		for _, m := range s.saslMechanisms() {
			s.dw.Write([]byte(m + "\r\n"))
		}
		return s.endList()
	}
	if len(cmd.Args) > 2 || cmd.Args[0] == "" {
		return &pop3.Error{Text: "usage: AUTH mechanism [initial-response]"}
	}
	mech := strings.ToUpper(cmd.Args[0])
	if !slices.Contains(s.srv.backendMechanisms(sb), mech) {
		return &pop3.Error{Text: "unsupported SASL mechanism"}
	}
	if !slices.Contains(s.saslMechanisms(), mech) {
		return s.cleartextAllowed()
	}
	var resp []byte // nil: no initial response
	if len(cmd.Args) == 2 {
		var ok bool
		if resp, ok = decodeSASL(cmd.Args[1], true); !ok {
			return &pop3.Error{Text: "invalid base64 in the initial response"}
		}
	}
	s.userArg = ""
	log := "SASL " + mech
	ctx, cancel := context.WithDeadline(s.srv.ctx, s.authDeadline)
	defer cancel()
	var ex SASLExchange
	err := s.checkCredentials(func() (err error) {
		ex, err = sb.NewSASL(ctx, mech, s.remote)
		return err
	})
	if err == nil && (ex.Server == nil || ex.Login == nil) {
		err = errors.New("pop3server: backend returned an incomplete SASL exchange")
	}
	if err != nil {
		return s.loginFailed(log, err)
	}
	lr := wire.NewLineReader(s.br, MaxSASLLine)
	for {
		var challenge []byte
		var done bool
		err := s.checkCredentials(func() (err error) {
			challenge, done, err = ex.Server.Next(resp)
			return err
		})
		if err != nil {
			return s.loginFailed(log, err)
		}
		if done {
			break
		}
		// RFC 5034 §4: "+ " and the challenge in base64.
		s.writeLine("+ " + base64.StdEncoding.EncodeToString(challenge))
		line, err := s.nextLine(lr)
		if err != nil {
			var pe *pop3.Error
			if errors.As(err, &pe) {
				return &pop3.Error{Text: "SASL response too long; authentication aborted"}
			}
			return err
		}
		if line == "*" {
			return &pop3.Error{Text: "authentication cancelled"}
		}
		var ok bool
		if resp, ok = decodeSASL(line, false); !ok {
			return &pop3.Error{Text: "invalid base64 in the SASL response; authentication aborted"}
		}
	}
	lctx, lcancel := s.storeCtx()
	defer lcancel()
	var user string
	var mb Mailbox
	err = s.checkCredentials(func() (err error) {
		user, mb, err = ex.Login(lctx)
		return err
	})
	return s.login(lctx, user, log, mb, err)
}

// decodeSASL decodes a base64 SASL response. An initial response of "="
// is the empty response (RFC 5034 §4); a later empty line is too. Missing
// padding is tolerated.
func decodeSASL(s string, initial bool) ([]byte, bool) {
	if initial && s == "=" {
		return []byte{}, true
	}
	if s == "" {
		return []byte{}, !initial
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, true
	}
	b, err := base64.RawStdEncoding.DecodeString(s)
	return b, err == nil
}
