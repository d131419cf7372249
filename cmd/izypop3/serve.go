package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
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
	"github.com/izyware/izypop3/sdk"
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
}

func newServerCmd() *cobra.Command {
	var f serverFlags
	cmd := &cobra.Command{
		Use:   "serverpop3",
		Short: "Serve a mimestore over POP3",
		Long: `Serve the messages of a mimestore over POP3 (RFC 1939, 2449, 3206; STLS with --tls-cert).

At login a user's maildrop is a snapshot of the mailbox's unread items. DELE only
marks; QUIT applies the marks (tag archive, or delete with --on-dele=delete). A
connection that ends without QUIT changes nothing.`,
		Example: `  izypop3 serverpop3 --port 1110 --password 12345 --modhandler fake
  izypop3 serverpop3 port 1110 password 12345 mimestore.modhandler fake
  izypop3 serverpop3 --users users.txt --modhandler localfs --mimestore.path /srv/mail
  izypop3 serverpop3 --config /etc/izypop3/izypop3.toml`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runServer(cmd.Context(), f) },
	}
	f.store.register(cmd, "fake")
	enableConfigFile(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", "127.0.0.1", "address to listen on")
	fl.IntVar(&f.port, "port", 1110, "POP3 port (STLS offered when --tls-cert is set)")
	fl.IntVar(&f.pop3sPort, "pop3s-port", 0, "also serve implicit-TLS POP3S on this port (needs --tls-cert)")
	fl.StringVar(&f.password, "password", "", "the seed's mode: any user name with this password logs in; each user name is its own mailbox")
	fl.StringVar(&f.passwordFile, "password-file", "", "--password read from the first line of this file (keeps it out of ps and the environment)")
	fl.StringVar(&f.usersFile, "users", "", "file of name:bcrypt-hash lines (see izypop3 passwd)")
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
	fl.StringVar(&f.log.format, "log-format", "auto", "log format: auto (text at a terminal, else json), text or json")
	fl.StringVar(&f.log.level, "log-level", "info", "log level: trace, debug, info, warn, error")
	return cmd
}

func runServer(ctx context.Context, f serverFlags) error {
	log, err := f.log.logger(os.Stderr)
	if err != nil {
		return err
	}
	if n := countSet(f.password, f.passwordFile, f.usersFile); n > 1 {
		return usageError{errors.New("--password, --password-file and --users exclude each other")}
	}
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
	}
	if err := backendOpts.Validate(); err != nil {
		var oe *pop3backend.OptionError
		if errors.As(err, &oe) {
			flag := map[string]string{"MaildropTags": "--maildrop-tags", "OnDele": "--on-dele"}[oe.Option]
			err = fmt.Errorf("%s %q: want %s", flag, oe.Value, oe.Want)
		}
		return usageError{err}
	}
	var tlsConf *tls.Config
	if f.tlsCert != "" || f.tlsKey != "" {
		cert, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
		if err != nil {
			return usageError{fmt.Errorf("--tls-cert/--tls-key: %w", err)}
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if f.pop3sPort != 0 && tlsConf == nil {
		return usageError{errors.New("--pop3s-port needs --tls-cert and --tls-key")}
	}

	var authn auth.Authenticator
	switch {
	case f.password != "":
		p, err := auth.NewPassword(f.password)
		if err != nil {
			return usageError{fmt.Errorf("--password: %w", err)}
		}
		authn = p
	case f.usersFile != "":
		u, err := auth.LoadUsersFile(f.usersFile)
		if err != nil {
			return usageError{fmt.Errorf("--users: %w", err)}
		}
		authn = u
	}

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	defer storehost.Cleanup()

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
	backend, err := pop3backend.New(host.Store(), backendOpts)
	if err != nil {
		return err
	}
	srv := pop3server.New(&pop3server.Options{
		Backend:       backend,
		Logger:        log,
		TLSConfig:     tlsConf,
		Hostname:      f.hostname,
		AuthTimeout:   f.loginTimeout,
		IdleTimeout:   f.idleTimeout,
		AuthFailDelay: f.authDelay,
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
		"stls", tlsConf != nil)
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

	select {
	case err := <-errc:
		srv.Close()
		if errors.Is(err, pop3server.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
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
