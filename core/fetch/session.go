package fetch

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/izyware/izypop3/core/auth/sasl"

	"github.com/izyware/izypop3/core/pop3"
	"github.com/izyware/izypop3/core/pop3/pop3client"
)

// session is one connection to the server, authenticated.
type session struct {
	j      *job
	c      *pop3client.Client
	caps   pop3client.Capabilities // after authentication; nil if CAPA failed
	window int                     // RETR/DELE commands in flight
}

// Retries of a login refused with -ERR [IN-USE]: a server may release the
// maildrop lock of the session before only after its QUIT reply (the next
// session of a run comes right after it), so the fetcher waits a little.
const (
	inUseRetries    = 6
	inUseFirstDelay = 50 * time.Millisecond
)

// connect opens a session, retrying a login refused because the maildrop
// is still in use.
func (j *job) connect(ctx context.Context) (*session, error) {
	delay := inUseFirstDelay
	for attempt := 0; ; attempt++ {
		s, err := j.connectOnce(ctx)
		if err == nil || attempt == inUseRetries || !errors.Is(err, &pop3.Error{Code: pop3.CodeInUse}) {
			return s, err
		}
		j.log.Debug("the maildrop is in use; trying again", "delay", delay)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		delay *= 2
	}
}

// connectOnce dials, secures, authenticates and reads the capabilities.
func (j *job) connectOnce(ctx context.Context) (*session, error) {
	a := j.o.Account
	host, _, err := net.SplitHostPort(a.Addr)
	if err != nil {
		return nil, fmt.Errorf("fetch: address %q: %w", a.Addr, err)
	}
	conn, err := j.dial(ctx, a.Addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &Error{Kind: KindNetwork, Err: fmt.Errorf("connect %s: %w", a.Addr, err)}
	}
	tlsConf := a.TLSConfig
	if tlsConf == nil {
		tlsConf = &tls.Config{}
	}
	if tlsConf.ServerName == "" {
		tlsConf = tlsConf.Clone()
		tlsConf.ServerName = host
	}
	if a.TLS == TLSImplicit {
		tc := tls.Client(conn, tlsConf)
		hctx, cancel := context.WithTimeout(ctx, j.o.DialTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			conn.Close()
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, &Error{Kind: KindNetwork, Err: fmt.Errorf("TLS with %s: %w", a.Addr, err)}
		}
		conn = tc
	}
	c, err := pop3client.NewClient(conn, &pop3client.Options{
		Timeout:     j.o.Timeout,
		DialTimeout: j.o.DialTimeout,
		TLSConfig:   tlsConf,
		Debug:       j.o.Debug,
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &Error{Kind: KindNetwork, Err: fmt.Errorf("greeting of %s: %w", a.Addr, err)}
	}
	s := &session{j: j, c: c, window: 1}
	stopWatch := context.AfterFunc(ctx, func() { c.Close() })
	defer stopWatch()
	fail := func(err error) (*session, error) {
		c.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}

	caps, capErr := c.Capa()
	if capErr != nil && !isReply(capErr) {
		return fail(s.netError("CAPA", capErr))
	}
	if a.TLS == TLSStartTLS {
		if capErr == nil && !caps.Has(pop3.CapSTLS) {
			j.log.Debug("the server does not list STLS; trying it anyway")
		}
		if err := c.STLS(); err != nil {
			return fail(&Error{Kind: KindNetwork, Err: fmt.Errorf("STLS with %s: %w", a.Addr, err)})
		}
		caps, capErr = c.Capa() // RFC 2595 §4: forget what was learnt before
		if capErr != nil && !isReply(capErr) {
			return fail(s.netError("CAPA", capErr))
		}
	}
	if !c.TLS() && !isLoopback(host) {
		j.log.Warn("the connection is not encrypted: the password travels in clear text (use --tls or --starttls)")
	}
	if err := s.authenticate(caps); err != nil {
		return fail(err)
	}
	// Capabilities may change after authentication (RFC 2449 §5), and
	// pipelining starts only now, after the PASS reply: some servers drop
	// commands pipelined behind PASS.
	if after, err := c.Capa(); err == nil {
		caps = after
	} else if !isReply(err) {
		return fail(s.netError("CAPA", err))
	}
	s.caps = caps
	if caps.Has(pop3.CapPipelining) {
		s.window = j.o.Window
	}
	return s, nil
}

func (j *job) dial(ctx context.Context, addr string) (net.Conn, error) {
	if j.o.Dial != nil {
		return j.o.Dial(ctx, addr)
	}
	d := &net.Dialer{Timeout: j.o.DialTimeout}
	return d.DialContext(ctx, "tcp", addr)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// bestMechanisms is the order in which the default (Account.Auth empty)
// picks a mechanism the server offers: challenge-response first (the
// password never crosses the wire), then the clear-text ones. The token
// mechanisms (XOAUTH2, OAUTHBEARER) are used only when asked for.
var bestMechanisms = []string{AuthSCRAMSHA256, AuthCRAMMD5, AuthAPOP, AuthUser, AuthPlain, AuthLogin}

// chooseMechanism picks the best mechanism the server offers.
func (s *session) chooseMechanism(caps pop3client.Capabilities) string {
	offered := map[string]bool{}
	for _, m := range caps[pop3.CapSASL] {
		offered[strings.ToLower(m)] = true
	}
	for _, m := range bestMechanisms {
		switch m {
		case AuthAPOP:
			if s.c.APOPTimestamp() != "" {
				return m
			}
		case AuthUser:
			// RFC 1939 servers without CAPA have USER; so do those that
			// list it.
			if caps == nil || caps.Has(pop3.CapUser) || !caps.Has(pop3.CapSASL) {
				return m
			}
		default:
			if offered[m] {
				return m
			}
		}
	}
	return AuthUser
}

// authenticate logs in with the configured or the best offered mechanism.
func (s *session) authenticate(caps pop3client.Capabilities) error {
	a := s.j.o.Account
	mech := a.Auth
	if mech == "" {
		mech = s.chooseMechanism(caps)
	}
	var err error
	switch mech {
	case AuthUser:
		err = s.c.Login(a.User, a.Secret)
	case AuthAPOP:
		if s.c.APOPTimestamp() == "" {
			return &Error{Kind: KindAuth, Err: errors.New("the server does not offer APOP (no timestamp in its greeting)")}
		}
		err = s.c.APOP(a.User, a.Secret)
	default:
		var cl sasl.Client
		if cl, err = saslClient(mech, a); err != nil {
			return &Error{Kind: KindAuth, Err: err}
		}
		err = s.c.Auth(cl)
	}
	if err == nil {
		s.j.log.Debug("logged in", "mechanism", mech)
		return nil
	}
	var pe *pop3.Error
	if errors.As(err, &pe) {
		switch pe.Code {
		case pop3.CodeInUse, pop3.CodeLoginDelay, pop3.CodeSysTemp:
			return &Error{Kind: KindNetwork, Err: fmt.Errorf("login as %s refused for now: %w", a.User, pe)}
		}
		return &Error{Kind: KindAuth, Err: fmt.Errorf("login as %s (%s) failed: %w", a.User, mech, pe)}
	}
	if errors.Is(err, sasl.ErrAuthFailed) || errors.Is(err, sasl.ErrServerNotVerified) {
		return &Error{Kind: KindAuth, Err: fmt.Errorf("login as %s (%s) failed: %w", a.User, mech, err)}
	}
	return s.netError("login", err)
}

// saslClient returns the client half of a SASL mechanism for a.
func saslClient(mech string, a Account) (sasl.Client, error) {
	switch mech {
	case AuthPlain:
		return sasl.NewPlainClient("", a.User, a.Secret), nil
	case AuthLogin:
		return sasl.NewLoginClient(a.User, a.Secret), nil
	case AuthCRAMMD5:
		return sasl.NewCRAMMD5Client(a.User, a.Secret), nil
	case AuthSCRAMSHA256:
		return sasl.NewSCRAMSHA256Client("", a.User, a.Secret)
	case AuthXOAuth2:
		return sasl.NewXOAuth2Client(a.User, a.Secret), nil
	case AuthOAuthBearer:
		host, port, _ := net.SplitHostPort(a.Addr)
		p, _ := strconv.Atoi(port)
		return sasl.NewOAuthBearerClient(a.User, a.Secret, host, p), nil
	}
	return nil, fmt.Errorf("authentication mechanism %q is not supported (want one of %s)", mech, strings.Join(Mechanisms, ", "))
}

// netError wraps a failure of the conversation.
func (s *session) netError(what string, err error) error {
	var fe *Error
	if errors.As(err, &fe) {
		return err
	}
	return &Error{Kind: KindNetwork, Err: fmt.Errorf("%s: %w", what, err)}
}

// maildrop reads UIDL and LIST. needUIDL makes a server without UIDL an
// error (the UIDL is what makes a fetch exactly once).
func (s *session) maildrop(needUIDL bool) ([]remote, error) {
	uids, err := s.c.Uidl()
	if err != nil {
		if !isReply(err) {
			return nil, s.netError("UIDL", err)
		}
		if needUIDL {
			return nil, &Error{Kind: KindProtocol, Err: fmt.Errorf("the server does not support UIDL (%v): without unique ids a message cannot be fetched exactly once", err)}
		}
		uids = nil
	}
	list, err := s.c.List()
	if err != nil {
		return nil, s.netError("LIST", err)
	}
	uidl := make(map[int]string, len(uids))
	for _, u := range uids {
		uidl[u.Num] = u.UID
	}
	out := make([]remote, 0, len(list))
	for _, m := range list {
		u, ok := uidl[m.Num]
		if !ok && needUIDL {
			s.j.log.Warn("the server lists a message without a UIDL; skipping it", "num", m.Num)
			continue
		}
		out = append(out, remote{num: m.Num, size: m.Size, uidl: u})
	}
	return out, nil
}

// quit ends the session; the server applies the DELE marks.
func (s *session) quit() error {
	if err := s.c.Quit(); err != nil {
		return s.netError("QUIT", err)
	}
	return nil
}
