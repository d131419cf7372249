package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"crypto/tls"

	"github.com/spf13/cobra"

	"github.com/izyware/izypop3/core/auth"
	"github.com/izyware/izypop3/core/pop3/pop3server"
	"github.com/izyware/izypop3/core/storehost"
	"github.com/izyware/izypop3/core/storehost/pop3backend"
	"github.com/izyware/izypop3/internal/metrics"
	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/pluginhost"
)

type serverFlags struct {
	store         storeFlags
	log           logFlags
	listen        string
	port          int
	pop3sPort     int
	password      string
	passwordFile  string
	usersFile     string
	onDele        string
	consumeOnRetr bool
	commit        bool
	maildropTags  []string
	tlsCert       string
	tlsKey        string
	loginTimeout  time.Duration
	idleTimeout   time.Duration
	shutdownWait  time.Duration
	authDelay     time.Duration
	hostname      string
	httpListen    string
	limits        limitFlags
}

// limitFlags are the cleartext policy, the abuse limits and the token
// checks of serverpop3 (docs/security.md).
type limitFlags struct {
	allowInsecureAuth bool
	maxConns          int
	maxConnsPerAddr   int
	maxAuthFailures   int
	maxAuthFailDelay  time.Duration
	maxAuthTime       time.Duration
	handshakeTimeout  time.Duration
	loginDelay        time.Duration
	minSendRate       int64
	maxStreams        int
	saslMechs         []string
	oauthCommand      string
	oauthURL          string
	oauthClientID     string
	oauthSecretFile   string
}

func (l *limitFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.BoolVar(&l.allowInsecureAuth, "allow-insecure-auth", false, "accept USER/PASS, PLAIN, LOGIN, OAUTHBEARER and XOAUTH2 on unencrypted connections from other hosts than loopback")
	fl.IntVar(&l.maxConns, "max-conns", pop3server.DefaultMaxConns, "most connections served at once; more are answered -ERR [SYS/TEMP] (negative: no limit)")
	fl.IntVar(&l.maxConnsPerAddr, "max-conns-per-addr", pop3server.DefaultMaxConnsPerAddr, "most connections at once from one remote address, an IPv6 /64 counting as one (negative: no limit)")
	fl.IntVar(&l.maxAuthFailures, "max-auth-failures", pop3server.DefaultMaxAuthFailures, "failed logins after which a connection is closed")
	fl.DurationVar(&l.maxAuthFailDelay, "max-auth-fail-delay", pop3server.DefaultMaxAuthFailDelay, "cap of the failed-login delay, which doubles with each failure from the same address")
	fl.DurationVar(&l.maxAuthTime, "login-max-time", pop3server.DefaultMaxAuthTime, "longest time a connection may stay unauthenticated, whatever it sends")
	fl.DurationVar(&l.handshakeTimeout, "tls-handshake-timeout", pop3server.DefaultTLSHandshakeTimeout, "longest TLS handshake (POP3S and STLS)")
	fl.Int64Var(&l.minSendRate, "min-send-rate", pop3server.DefaultMinSendRate, "slowest average rate, in octets per second, at which a client may read its RETR and TOP replies (after one grace of the write timeout); slower readers are disconnected (negative: no limit)")
	fl.IntVar(&l.maxStreams, "max-streams", pop3backend.DefaultMaxStreams, "most message streams open from the store at once over all sessions (each buffers up to 1 MiB); a RETR beyond waits, then gets -ERR [SYS/TEMP]")
	fl.DurationVar(&l.loginDelay, "login-delay", 0, "least time between two logins of one user, advertised as LOGIN-DELAY (RFC 2449; 0: none)")
	fl.StringSliceVar(&l.saslMechs, "sasl-mechanisms", nil, "offer only these SASL mechanisms (default: every one the credentials allow: SCRAM-SHA-256, OAUTHBEARER, XOAUTH2, CRAM-MD5, PLAIN, LOGIN)")
	fl.StringVar(&l.oauthCommand, "oauth-check-command", "", "check OAUTHBEARER/XOAUTH2 bearer tokens with this shell command: it reads the user and the token as two lines on stdin, exits 0 to accept (printing the mailbox, or nothing for the user's own) or 1 to refuse")
	fl.StringVar(&l.oauthURL, "oauth-introspect-url", "", "check bearer tokens with this OAuth 2.0 token introspection endpoint (RFC 7662)")
	fl.StringVar(&l.oauthClientID, "oauth-client-id", "", "client id for --oauth-introspect-url (HTTP basic authentication)")
	fl.StringVar(&l.oauthSecretFile, "oauth-client-secret-file", "", "file whose first line is the client secret for --oauth-client-id")
}

// mechanisms returns --sasl-mechanisms upper-cased, or nil.
func (l *limitFlags) mechanisms() []string {
	if l.saslMechs == nil {
		return nil
	}
	out := []string{}
	for _, m := range l.saslMechs {
		if m = strings.ToUpper(strings.TrimSpace(m)); m != "" {
			out = append(out, m)
		}
	}
	return out
}

// tokens returns the configured bearer-token check, or nil.
func (l *limitFlags) tokens() (auth.TokenAuthenticator, error) {
	switch {
	case l.oauthCommand != "" && l.oauthURL != "":
		return nil, usageError{errors.New("--oauth-check-command and --oauth-introspect-url exclude each other")}
	case l.oauthCommand != "":
		return auth.CommandTokens{Command: l.oauthCommand}, nil
	case l.oauthURL != "":
		in := auth.Introspection{URL: l.oauthURL, ClientID: l.oauthClientID}
		if l.oauthSecretFile != "" {
			secret, err := readSecretFile("oauth-client-secret-file", l.oauthSecretFile)
			if err != nil {
				return nil, usageError{err}
			}
			in.ClientSecret = secret
		}
		return in, nil
	case l.oauthClientID != "" || l.oauthSecretFile != "":
		return nil, usageError{errors.New("--oauth-client-id and --oauth-client-secret-file need --oauth-introspect-url")}
	}
	return nil, nil
}

func newServerCmd() *cobra.Command {
	cmd, _ := serverCommand()
	return cmd
}

// serverCommand is the serverpop3 command and the flags it fills.
func serverCommand() (*cobra.Command, *serverFlags) {
	f := &serverFlags{}
	cmd := &cobra.Command{
		Use:   "serverpop3",
		Short: "Serve a mimestore over POP3",
		Long: `Serve the messages of a mimestore over POP3 (RFC 1939, 2449, 3206, SASL AUTH per
RFC 5034; STLS and POP3S with --tls-cert).

Passwords and tokens are refused in the clear except from loopback: use STLS or
POP3S, or --allow-insecure-auth. Connections, login attempts and the time before
login are limited (docs/security.md).

At login a user's maildrop is a snapshot of the mailbox's unread items. DELE only
marks; QUIT applies the marks (tag archive, or delete with --on-dele=delete). A
connection that ends without QUIT changes nothing.

SIGTERM and SIGINT stop it after the open sessions finish (--shutdown-timeout).
SIGHUP reads the settings again and applies the users file, the password and the
TLS certificate without dropping a session (docs/guide.md, Reloading).`,
		Example: `  izypop3 serverpop3 --port 1110 --password 12345 --modhandler fake
  izypop3 serverpop3 port 1110 password 12345 mimestore.modhandler fake
  izypop3 serverpop3 --users users.txt --modhandler localfs --mimestore.path /srv/mail
  izypop3 serverpop3 --config /etc/izypop3/izypop3.toml`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServer(cmd.Context(), *f, flagValues(cmd.Flags()))
		},
	}
	f.store.register(cmd, "fake")
	enableConfigFile(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", "127.0.0.1", "address to listen on")
	fl.IntVar(&f.port, "port", 1110, "POP3 port (STLS offered when --tls-cert is set)")
	fl.IntVar(&f.pop3sPort, "pop3s-port", 0, "also serve implicit-TLS POP3S on this port (needs --tls-cert)")
	fl.StringVar(&f.password, "password", "", "the seed's mode: any user name with this password logs in; each user name is its own mailbox")
	fl.StringVar(&f.passwordFile, "password-file", "", "--password read from the first line of this file (keeps it out of ps and the environment)")
	fl.StringVar(&f.usersFile, "users", "", "file of name:verifier lines, bcrypt, argon2id or SCRAM-SHA-256 (see izypop3 passwd --scheme)")
	fl.StringVar(&f.onDele, "on-dele", "archive", "what QUIT does to DELE'd messages: archive (tag) or delete")
	fl.BoolVar(&f.consumeOnRetr, "consume-on-retr", false, "seed queue mode: after QUIT retrieved messages are archived; if the connection drops they are tagged pop3failed")
	fl.BoolVar(&f.commit, "commit", true, "apply changes to the store; --commit=false logs them and applies none (dry run)")
	fl.StringSliceVar(&f.maildropTags, "maildrop-tags", []string{string(sdk.TagUnread)}, "tags of the items that form the maildrop at login")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate: enables STLS (RFC 2595)")
	fl.StringVar(&f.tlsKey, "tls-key", "", "PEM private key for --tls-cert")
	fl.DurationVar(&f.loginTimeout, "login-timeout", pop3server.DefaultAuthTimeout, "idle timeout before login")
	fl.DurationVar(&f.idleTimeout, "idle-timeout", pop3server.DefaultIdleTimeout, "idle timeout after login (RFC 1939: at least 10m)")
	fl.DurationVar(&f.authDelay, "auth-fail-delay", pop3server.DefaultAuthFailDelay, "pause before answering a failed login")
	fl.DurationVar(&f.shutdownWait, "shutdown-timeout", 30*time.Second, "on SIGTERM/SIGINT, how long sessions may take to finish before they are dropped (never updated)")
	fl.StringVar(&f.hostname, "hostname", "", "host name in the greeting (default: the system's)")
	fl.StringVar(&f.httpListen, "http-listen", "", "serve Prometheus /metrics, /healthz and /readyz over HTTP on this address (e.g. 127.0.0.1:9110); off by default")
	fl.StringVar(&f.log.format, "log-format", "auto", "log format: auto (text at a terminal, else json), text or json")
	fl.StringVar(&f.log.level, "log-level", "info", "log level: trace, debug, info, warn, error")
	f.limits.register(cmd)
	return cmd, f
}

func runServer(ctx context.Context, f serverFlags, vals map[string]string) error {
	log, err := f.log.logger(os.Stderr)
	if err != nil {
		return err
	}
	if n := countSet(f.password, f.passwordFile, f.usersFile); n > 1 {
		return usageError{errors.New("--password, --password-file and --users exclude each other")}
	}
	// Memory a burst of message streams took (clients stalling RETRs) is
	// given back 5 s after the last one closed, not minutes later.
	pluginhost.ReleaseMemoryWhenIdle()
	if f.passwordFile != "" {
		pw, err := readSecretFile("password-file", f.passwordFile)
		if err != nil {
			return usageError{err}
		}
		f.password = pw
	}
	if f.port <= 0 || f.port > 65535 {
		return usageError{fmt.Errorf("--port %d out of range", f.port)}
	}
	var tags []sdk.Tag
	for _, t := range f.maildropTags {
		tags = append(tags, sdk.Tag(strings.TrimSpace(t)))
	}
	backendOpts := pop3backend.Options{
		MaildropTags:  tags,
		OnDele:        pop3backend.OnDele(f.onDele),
		ConsumeOnRetr: f.consumeOnRetr,
		DryRun:        !f.commit,
		Logger:        log,
		MaxStreams:    f.limits.maxStreams,
	}
	if err := backendOpts.Validate(); err != nil {
		var oe *pop3backend.OptionError
		if errors.As(err, &oe) {
			flag := map[string]string{"MaildropTags": "--maildrop-tags", "OnDele": "--on-dele"}[oe.Option]
			err = fmt.Errorf("%s %q: want %s", flag, oe.Value, oe.Want)
		}
		return usageError{err}
	}
	rl := &reloader{log: log, environ: os.Environ(), vals: vals, store: maps.Clone(globalStoreConfig)}
	var tlsConf *tls.Config
	if f.tlsCert != "" || f.tlsKey != "" {
		cert, err := loadCert(f.tlsCert, f.tlsKey)
		if err != nil {
			return usageError{fmt.Errorf("--tls-cert/--tls-key: %w", err)}
		}
		rl.cert = &liveCert{}
		rl.cert.cur.Store(cert)
		tlsConf = rl.cert.tlsConfig()
	}
	if f.pop3sPort != 0 && tlsConf == nil {
		return usageError{errors.New("--pop3s-port needs --tls-cert and --tls-key")}
	}

	var authn auth.Authenticator
	switch {
	case f.password != "":
		p, err := newLivePassword(f.password)
		if err != nil {
			return usageError{fmt.Errorf("--password: %w", err)}
		}
		rl.password, authn = p, p
	case f.usersFile != "":
		u, digest, err := loadUsers(f.usersFile)
		if err != nil {
			return usageError{fmt.Errorf("--users: %w", err)}
		}
		rl.users = &liveUsers{digest: digest}
		rl.users.cur.Store(u)
		authn = rl.users
	}

	tokens, err := f.limits.tokens()
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// SIGHUP reloads (reload.go); one that comes before the server is up
	// waits for it.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	defer storehost.Cleanup()

	var reg *metrics.Registry
	if f.httpListen != "" {
		b := readBuildInfo()
		reg = metrics.New(b.Version, b.Commit)
		f.store.observer = reg.Store()
	}
	if n := servePluginProcs(runtime.GOMAXPROCS(0), os.Getenv("GOMAXPROCS")); n > 0 {
		f.store.setProcs(n)
	}
	host, err := f.store.open(ctx, log)
	if err != nil {
		return err
	}
	defer host.Close()
	info := host.Info()
	if _, ok := host.Store().(sdk.Authenticator); authn == nil && !ok {
		return usageError{fmt.Errorf("store %q does not check passwords itself: give --password or --users", info.Name)}
	}

	backendOpts.Auth = authn
	backendOpts.Tokens = tokens
	backend, err := pop3backend.New(host.Store(), backendOpts)
	if err != nil {
		return err
	}
	var observer pop3server.Observer
	if reg != nil {
		reg.StoreOpened(info.Name)
		observer = reg.Server()
		hs, err := reg.Listen(f.httpListen, storeReady(host), log)
		if err != nil {
			return usageError{err}
		}
		defer hs.Close()
		log.Info("serving metrics", "addr", hs.Addr().String(), "paths", "/metrics /healthz /readyz")
	}
	srv := pop3server.New(&pop3server.Options{
		Observer:      observer,
		Backend:       backend,
		Logger:        log,
		TLSConfig:     tlsConf,
		Hostname:      f.hostname,
		AuthTimeout:   f.loginTimeout,
		IdleTimeout:   f.idleTimeout,
		AuthFailDelay: f.authDelay,

		AllowInsecureAuth:   f.limits.allowInsecureAuth,
		MaxConns:            f.limits.maxConns,
		MaxConnsPerAddr:     f.limits.maxConnsPerAddr,
		MaxAuthFailures:     f.limits.maxAuthFailures,
		MaxAuthFailDelay:    f.limits.maxAuthFailDelay,
		MaxAuthTime:         f.limits.maxAuthTime,
		TLSHandshakeTimeout: f.limits.handshakeTimeout,
		LoginDelay:          f.limits.loginDelay,
		MinSendRate:         f.limits.minSendRate,
		SASLMechanisms:      f.limits.mechanisms(),
	})

	addr := net.JoinHostPort(f.listen, strconv.Itoa(f.port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("serving POP3", "addr", ln.Addr().String(), "store", info.Name, "store_version", info.Version,
		"plugin", host.Path(), "on_dele", f.onDele, "consume_on_retr", f.consumeOnRetr, "commit", f.commit,
		"stls", tlsConf != nil, "sasl", strings.Join(saslMechs(backend, f.limits.mechanisms()), " "))
	if f.pop3sPort != 0 {
		tlsAddr := net.JoinHostPort(f.listen, strconv.Itoa(f.pop3sPort))
		tln, err := net.Listen("tcp", tlsAddr)
		if err != nil {
			srv.Close()
			return err
		}
		go func() { errc <- srv.ServeTLS(tln) }()
		log.Info("serving POP3S", "addr", tln.Addr().String())
	}
	if !f.commit {
		log.Warn("dry run (--commit=false): changes are logged, none is applied")
	}

	for running := true; running; {
		select {
		case err := <-errc:
			srv.Close()
			if errors.Is(err, pop3server.ErrServerClosed) {
				return nil
			}
			return err
		case <-hup:
			rl.reload()
		case <-ctx.Done():
			running = false
		}
	}
	log.Info("shutting down: no new connections; waiting for sessions", "timeout", f.shutdownWait.String())
	sctx, cancel := context.WithTimeout(context.Background(), f.shutdownWait)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("sessions still open at the deadline were dropped without UPDATE", "error", err)
	}
	log.Info("stopped")
	return nil
}

// storeReady is the /readyz check: the store's own health check when it
// has one, else that its plugin answers.
func storeReady(host *storehost.Host) metrics.ReadyFunc {
	if c, ok := host.Store().(sdk.Checker); ok {
		return c.Check
	}
	return host.Ping
}

// saslMechs lists the SASL mechanisms the backend can run that allow
// permits (nil: all).
func saslMechs(b pop3server.Backend, allow []string) []string {
	sb, ok := b.(pop3server.SASLBackend)
	if !ok {
		return nil
	}
	var out []string
	for _, m := range sb.SASLMechanisms() {
		if allow == nil || slices.Contains(allow, m) {
			out = append(out, m)
		}
	}
	return out
}

// countSet is how many of the values are not empty.
func countSet(vals ...string) int {
	n := 0
	for _, v := range vals {
		if v != "" {
			n++
		}
	}
	return n
}

// servePluginProcs is the GOMAXPROCS of serverpop3's store plugin: half
// of izypop3's own (procs), at least 1; 0 when the user set GOMAXPROCS
// (env), which the plugin then inherits.
//
// The plugin's part of a RETR is short steps handed on between goroutines
// (the store's read, gRPC's writer); with as many Ps as izypop3, an idle
// thread is woken at nearly every hand-off and spins for work. It spends
// about 40 % of the server's CPU per message, so half the Ps leaves it
// room when all cores are busy. Measured on 2 CPUs, bench/vsdovecot's
// pipelined client over localfs (2000 × ~20 KB), 4 interleaved runs of
// 5 (load 5-6): CPU of izypop3 + plugin 75-80 -> 65-70 µs per message.
func servePluginProcs(procs int, env string) int {
	return pluginProcs(procs/2, env)
}
