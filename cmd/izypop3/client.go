package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/izyware/izypop3/core/fetch"
	"github.com/izyware/izypop3/core/storehost"
	"github.com/izyware/izypop3/internal/metrics"
)

// Exit codes of clientpop3 (documented in docs/client.md).
const (
	exitAuth    = 3 // the server refused the credentials
	exitNetwork = 4 // connection, TLS or protocol failure
	exitStore   = 5 // the store failed (or could not start)
	exitPartial = 6 // the run finished, but some messages failed
)

// exitCodeError carries the exit code of a failed run.
type exitCodeError struct {
	code int
	err  error
}

func (e exitCodeError) Error() string { return e.err.Error() }
func (e exitCodeError) Unwrap() error { return e.err }

type clientFlags struct {
	store       storeFlags
	host        string
	ip          string
	port        int
	user        string
	pass        string
	passEnv     string
	passFile    string
	passCommand string
	tls         bool
	starttls    bool
	fingerprint string
	caFile      string
	insecure    bool
	auth        string
	cmd         string
	query       string
	mailbox     string
	keep        bool
	del         bool
	deleteAfter int
	maxSize     int64
	limit       int
	dryRun      bool
	quiet       bool
	verbose     bool
	debug       bool
	timeout     time.Duration
	interval    time.Duration
	batch       int
	parallel    int
	httpListen  string
	accounts    []string
}

func newClientCmd() *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "clientpop3",
		Short: "Fetch mail from a POP3 server into a mimestore, exactly once",
		Long: `Fetch the messages of a POP3 maildrop (Gmail, Outlook, Dovecot, any RFC 1939
server) into a mimestore.

  --cmd list   number, size, UIDL of each message, and whether the store holds it
  --cmd stat   number of messages and their total size
  --cmd retr   fetch the messages of --query (3, 1-10, 1,4,9-12)
  --cmd sync   fetch every message the store does not hold yet (the default)

Each message is stored with SourceID pop3://USER@HOST:PORT/UIDL, so the store
itself is the record of what was fetched: a rerun fetches nothing twice, and a
run killed at any point loses nothing. Messages are deleted on the server only
with --delete or --delete-after, and only once the store holds them durably.

A --config file with [account.NAME] tables holds several accounts: a run
syncs them all, --parallel at a time (--account picks some).
See docs/client.md.`,
		Example: `  izypop3 clientpop3 --ip pop.example.com --tls --user U --pass-env POP_PASS --cmd list
  izypop3 clientpop3 --ip pop.example.com --tls --user U --pass-file ~/.pop-pass \
      --modhandler localfs --mimestore.path /var/backup/mail --cmd sync
  izypop3 clientpop3 ip pop.example.com port 995 user U pass P tls true cmd list
  izypop3 clientpop3 ip pop.example.com port 995 user U pass P tls true \
      mimestore.modhandler localfs mimestore.path /tmp/izyware/mimestore cmd retr query 1-10`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runClient(cmd.Context(), cmd, f)
		},
	}
	f.register(cmd)
	enableConfigFile(cmd, accountSection)
	return cmd
}

// register defines the flags of clientpop3 on cmd, bound to f.
func (f *clientFlags) register(cmd *cobra.Command) {
	f.store.register(cmd, "")
	fl := cmd.Flags()
	fl.StringVar(&f.ip, "ip", "", "POP3 server host name or address (the seed's name)")
	fl.StringVar(&f.host, "host", "", "alias of --ip")
	fl.IntVar(&f.port, "port", 0, "POP3 port (default 995 with --tls, else 110)")
	fl.StringVar(&f.user, "user", "", "login name")
	fl.StringVar(&f.pass, "pass", "", "password (visible to other local users in the process list: prefer --pass-env, --pass-file or --pass-command)")
	fl.StringVar(&f.passEnv, "pass-env", "", "read the password from this environment variable")
	fl.StringVar(&f.passFile, "pass-file", "", "read the password from the first line of this file")
	fl.StringVar(&f.passCommand, "pass-command", "", "run this shell command and use the first line it prints as the password or OAuth token (like mpop's passwordeval)")
	fl.BoolVar(&f.tls, "tls", false, "implicit TLS (POP3S, port 995); the seed's 'tls true'")
	fl.BoolVar(&f.starttls, "starttls", false, "upgrade the connection with STLS (RFC 2595); fails if the server refuses")
	fl.StringVar(&f.fingerprint, "tls-fingerprint", "", "accept exactly the server certificate with this SHA-256 (sha256:HEX), instead of checking it against CAs")
	fl.StringVar(&f.caFile, "ca-file", "", "PEM file of the CA certificates to check the server's certificate against (default: the system's)")
	fl.BoolVar(&f.insecure, "insecure", false, "do not check the server's certificate at all (DANGEROUS: anyone on the path can read the password and the mail)")
	fl.StringVar(&f.auth, "auth", "", "authentication mechanism: "+strings.Join(fetch.Mechanisms, ", ")+" (default: the best the server offers; xoauth2 and oauthbearer take an OAuth token as the password)")
	fl.StringVar(&f.cmd, "cmd", "sync", "list, stat, retr or sync")
	fl.StringVar(&f.query, "query", "", "message numbers for --cmd retr: 3, 1-10, 1,4,9-12")
	fl.StringVar(&f.mailbox, "mailbox", "", "mailbox of the store the messages go to (default: the --user name)")
	fl.BoolVar(&f.keep, "keep", false, "leave every message on the server (the default)")
	fl.BoolVar(&f.del, "delete", false, "delete on the server every message the store holds durably")
	fl.IntVar(&f.deleteAfter, "delete-after", -1, "delete on the server the messages the store has held for more than DAYS days (0 = --delete)")
	fl.Int64Var(&f.maxSize, "max-size", 0, "skip messages larger than this many octets (as LIST states; 0: no limit)")
	fl.IntVar(&f.limit, "limit", 0, "fetch at most this many messages per run (0: no limit)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "connect and print what would be fetched and deleted; change nothing (the seed's commitmode off)")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "print only errors")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "print one line per message and informational logs")
	fl.BoolVar(&f.debug, "debug", false, "also print the POP3 transcript (credentials masked) and debug logs to stderr")
	fl.DurationVar(&f.timeout, "timeout", fetch.DefaultTimeout, "how long to wait for the server (renewed while data keeps coming)")
	fl.IntVar(&f.batch, "batch", fetch.DefaultBatchMessages, "messages per durability barrier: a crash makes the next run fetch at most this many again")
	fl.DurationVar(&f.interval, "interval", 0, "keep running: sync again this long after each run ends; a failed run is retried, the wait doubling while it keeps failing (SIGTERM finishes the current message and stops)")
	fl.IntVar(&f.parallel, "parallel", 4, "with several accounts in the --config file: sync at most this many at the same time")
	fl.StringSliceVar(&f.accounts, "account", nil, "with several accounts in the --config file: only these (the NAMEs of [account.NAME]; repeat or comma-separate)")
	fl.StringVar(&f.httpListen, "http-listen", "", "with --interval: serve Prometheus /metrics and /healthz over HTTP on this address (e.g. 127.0.0.1:9111)")
}

// clientJob is one account to fetch: the command line's, or one
// [account.NAME] block of the --config file.
type clientJob struct {
	name  string // NAME of [account.NAME]; "" for the command line's account
	label string // the account in metrics: NAME, or USER@HOST:PORT
	f     clientFlags
	opts  fetch.Options
	out   io.Writer // results
	errw  io.Writer // logs, progress, warnings
	// storeCfg is the store's config block, storeSrc where its keys were
	// set; store is the (shared) store the job uses, nil for none.
	storeCfg, storeSrc map[string]string
	store              *sharedStore
}

func runClient(ctx context.Context, cmd *cobra.Command, f clientFlags) error {
	if f.parallel < 1 {
		return usageError{fmt.Errorf("--parallel %d: want 1 or more", f.parallel)}
	}
	if f.httpListen != "" && f.interval <= 0 {
		return usageError{errors.New("--http-listen works with --interval only (a single run ends before anyone scrapes it)")}
	}
	jobs, err := clientJobs(cmd, f)
	if err != nil {
		return err
	}
	for _, cj := range jobs {
		if err := cj.setup(); err != nil {
			return err
		}
	}
	if n := fetchProcs(min(f.parallel, len(jobs)), runtime.GOMAXPROCS(0), os.Getenv("GOMAXPROCS")); n > 0 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(n))
		for _, cj := range jobs {
			cj.f.store.setProcs(n)
		}
	}

	// SIGTERM/SIGINT: the first finishes the message in progress and stops
	// cleanly, the second aborts.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := make(chan struct{})
	sigc := make(chan os.Signal, 2)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigc)
	go func() {
		var sig os.Signal
		select {
		case sig = <-sigc:
		case <-ctx.Done():
			return
		}
		if !f.quiet {
			fmt.Fprintf(cmd.ErrOrStderr(), "izypop3: %s: stopping after the message in progress (a second signal aborts)\n", sigName(sig))
		}
		close(stop)
		select {
		case <-sigc:
			cancel()
		case <-ctx.Done():
		}
	}()
	for _, cj := range jobs {
		cj.opts.Stop = stop
	}

	defer storehost.Cleanup()
	var reg *metrics.Registry
	var fm *metrics.FetchMetrics
	if f.httpListen != "" {
		b := readBuildInfo()
		reg = metrics.New(b.Version, b.Commit)
		fm = reg.Fetch()
		for _, cj := range jobs {
			fm.Account(cj.label)
		}
	}
	stores, err := openStores(ctx, jobs, reg, f.interval > 0)
	defer func() {
		for _, s := range stores {
			s.close()
		}
	}()
	if err != nil {
		return err
	}
	if reg != nil {
		log, _ := logFlags{format: "text", level: "warn"}.logger(cmd.ErrOrStderr())
		hs, err := reg.Listen(f.httpListen, nil, log)
		if err != nil {
			return usageError{err}
		}
		defer hs.Close()
	}
	return runJobs(ctx, jobs, f.parallel, f.interval, stop, fm)
}

// fetchProcs is how many threads may run Go code at once (GOMAXPROCS) in
// a clientpop3 run that syncs active accounts at a time, for the client
// and for its store plugin: one per account, at most procs (the runtime's
// default). 0 when the user set GOMAXPROCS (env), which is then kept.
//
// One sync is a pipeline of a few goroutines that hand each message on
// (POP3 reader, store writer, MIME check, gRPC reader and writer; in the
// plugin the gRPC reader and the Put). With more Ps than the pipelines keep
// busy, the scheduler wakes an idle thread at every hand-off (a futex wake,
// a context switch, a thread that spins and finds nothing). Measured on
// 2 CPUs, 2000 × 20 KB from Dovecot into localfs, 5 interleaved runs (load
// 5.5-6): 17 context switches per message with GOMAXPROCS=2, 9 with 1;
// CPU of client + plugin 555 -> 448 µs per message, wall 1.23 -> 0.91 s.
func fetchProcs(active, procs int, env string) int {
	return pluginProcs(min(active, procs), env)
}

// sigName is the usual name of a signal: SIGTERM, SIGINT.
func sigName(sig os.Signal) string {
	if s, ok := sig.(syscall.Signal); ok {
		switch s {
		case syscall.SIGTERM:
			return "SIGTERM"
		case syscall.SIGINT:
			return "SIGINT"
		}
	}
	return sig.String()
}

// setup makes the job's logger and checks what needs the store.
func (cj *clientJob) setup() error {
	f := cj.f
	level := "warn"
	switch {
	case f.debug:
		level = "debug"
	case f.verbose:
		level = "info"
	case f.quiet:
		level = "error"
	}
	logger, err := logFlags{format: "text", level: level}.logger(cj.errw)
	if err != nil {
		return err
	}
	cj.opts.Logger = logger
	if f.debug {
		cj.opts.Debug = &lineWriter{w: cj.errw}
	}
	if f.insecure {
		fmt.Fprintln(cj.errw, "izypop3: WARNING: --insecure: the server's certificate is NOT checked; anyone on the path can read the password and the mail")
	}
	needStore := f.cmd == "sync" || f.cmd == "retr"
	switch {
	case needStore && f.store.modhandler == "":
		return usageError{cj.errorf("--cmd %s needs a store: give --modhandler (the seed's mimestore.modhandler)", f.cmd)}
	case f.cmd == "stat" && f.store.modhandler != "":
		return usageError{cj.errorf("--cmd stat does not use a store")}
	case f.store.modhandler == "" && len(cj.storeCfg) > 0:
		return usageError{cj.errorf("--%s* options need --modhandler", storehost.ConfigPrefix)}
	}
	return nil
}

// errorf is an error about the job, naming its account when it has a name.
func (cj *clientJob) errorf(format string, args ...any) error {
	if cj.name != "" {
		return fmt.Errorf("[%s.%s]: %s", accountSection, cj.name, fmt.Sprintf(format, args...))
	}
	return fmt.Errorf(format, args...)
}

// parse checks the flags and fills opts.
func (cj *clientJob) parse() error {
	f := &cj.f
	host := f.ip
	if f.host != "" {
		if host != "" && host != f.host {
			return usageError{errors.New("--ip and --host name different servers")}
		}
		host = f.host
	}
	if host == "" {
		return usageError{errors.New("--ip (or --host) is required")}
	}
	if f.user == "" {
		return usageError{errors.New("--user is required")}
	}
	switch f.cmd {
	case "list", "stat", "retr", "sync":
	default:
		return usageError{fmt.Errorf("--cmd %q: want list, stat, retr or sync", f.cmd)}
	}
	port := f.port
	if port == 0 {
		port = 110
		if f.tls {
			port = 995
		}
	}
	if port < 1 || port > 65535 {
		return usageError{fmt.Errorf("--port %d out of range", port)}
	}
	if f.tls && f.starttls {
		return usageError{errors.New("--tls and --starttls exclude each other")}
	}
	mode := fetch.TLSNone
	switch {
	case f.tls:
		mode = fetch.TLSImplicit
	case f.starttls:
		mode = fetch.TLSStartTLS
	}
	if mode == fetch.TLSNone && (f.fingerprint != "" || f.caFile != "" || f.insecure) {
		return usageError{errors.New("--tls-fingerprint, --ca-file and --insecure need --tls or --starttls")}
	}
	tlsConf, err := tlsConfig(host, f.fingerprint, f.caFile, f.insecure)
	if err != nil {
		return usageError{err}
	}
	f.auth = strings.ToLower(f.auth)
	if f.auth != "" && !slices.Contains(fetch.Mechanisms, f.auth) {
		return usageError{fmt.Errorf("--auth %q: want one of %s", f.auth, strings.Join(fetch.Mechanisms, ", "))}
	}
	if f.keep && (f.del || f.deleteAfter >= 0) {
		return usageError{errors.New("--keep excludes --delete and --delete-after")}
	}
	if f.del && f.deleteAfter >= 0 {
		return usageError{errors.New("--delete and --delete-after exclude each other")}
	}
	if f.deleteAfter < -1 {
		return usageError{fmt.Errorf("--delete-after %d: want 0 or more days", f.deleteAfter)}
	}
	if f.maxSize < 0 || f.limit < 0 || f.batch < 1 {
		return usageError{errors.New("--max-size and --limit must not be negative, --batch must be positive")}
	}
	if f.interval < 0 || (f.interval > 0 && f.cmd != "sync") {
		return usageError{errors.New("--interval works with --cmd sync only")}
	}
	var nums []int
	if f.cmd == "retr" {
		if f.query == "" {
			return usageError{errors.New("--cmd retr needs --query (3, 1-10, 1,4,9-12)")}
		}
		if nums, err = parseQuery(f.query); err != nil {
			return usageError{fmt.Errorf("--query: %w", err)}
		}
	} else if f.query != "" {
		return usageError{errors.New("--query works with --cmd retr only")}
	}
	mailbox := f.mailbox
	if mailbox == "" {
		mailbox = f.user
	}
	cj.opts = fetch.Options{
		Account: fetch.Account{
			Addr:      net.JoinHostPort(host, strconv.Itoa(port)),
			User:      f.user,
			TLS:       mode,
			TLSConfig: tlsConf,
			Auth:      f.auth,
		},
		Mailbox: mailbox,
		Numbers: nums,
		Delete:  f.del || f.deleteAfter == 0,
		MaxSize: f.maxSize,
		Limit:   f.limit,
		DryRun:  f.dryRun,
		Timeout: f.timeout,
		Mode:    fetch.ModeSync,

		BatchMessages: f.batch,
	}
	if f.cmd == "retr" {
		cj.opts.Mode = fetch.ModeRetr
	}
	if f.deleteAfter > 0 {
		cj.opts.DeleteAfter = time.Duration(f.deleteAfter) * 24 * time.Hour
	}
	// The secret source is checked now, read at each run (a token helper
	// gives a fresh token every time).
	n := 0
	for _, s := range []string{f.pass, f.passEnv, f.passFile, f.passCommand} {
		if s != "" {
			n++
		}
	}
	if n > 1 {
		return usageError{errors.New("give only one of --pass, --pass-env, --pass-file and --pass-command")}
	}
	if n == 0 {
		return usageError{errors.New("no password: give --pass-env VAR, --pass-file FILE, --pass-command CMD or --pass")}
	}
	return nil
}

// secret reads the password from the configured source.
func (cj *clientJob) secret(ctx context.Context) (string, error) {
	f := cj.f
	switch {
	case f.pass != "":
		return f.pass, nil
	case f.passEnv != "":
		v, ok := os.LookupEnv(f.passEnv)
		if !ok || v == "" {
			return "", fmt.Errorf("--pass-env: $%s is not set", f.passEnv)
		}
		return v, nil
	case f.passFile != "":
		b, err := os.ReadFile(f.passFile)
		if err != nil {
			return "", fmt.Errorf("--pass-file: %w", err)
		}
		return firstLine(b, "--pass-file "+f.passFile)
	default:
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", f.passCommand)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			// Its stderr may help; its stdout may be a secret: not shown.
			return "", fmt.Errorf("--pass-command failed: %v: %s", err, strings.TrimSpace(stderr.String()))
		}
		return firstLine(out, "--pass-command")
	}
}

func firstLine(b []byte, what string) (string, error) {
	s, _, _ := strings.Cut(string(b), "\n")
	s = strings.TrimSuffix(s, "\r")
	if s == "" {
		return "", fmt.Errorf("%s gave an empty password", what)
	}
	return s, nil
}

// tlsConfig builds the client TLS configuration.
func tlsConfig(host, fingerprint, caFile string, insecure bool) (*tls.Config, error) {
	conf := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if n := btoi(fingerprint != "") + btoi(caFile != "") + btoi(insecure); n > 1 {
		return nil, errors.New("--tls-fingerprint, --ca-file and --insecure exclude each other")
	}
	switch {
	case fingerprint != "":
		want, err := parseFingerprint(fingerprint)
		if err != nil {
			return nil, err
		}
		// The pin replaces the CA check: the leaf certificate must be
		// exactly this one (a self-signed server certificate works).
		conf.InsecureSkipVerify = true
		conf.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the server sent no certificate")
			}
			got := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if !bytes.Equal(got[:], want) {
				return fmt.Errorf("the server's certificate has SHA-256 %s, not the pinned %s", hex.EncodeToString(got[:]), hex.EncodeToString(want))
			}
			return nil
		}
	case caFile != "":
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s: no PEM certificate in it", caFile)
		}
		conf.RootCAs = pool
	case insecure:
		conf.InsecureSkipVerify = true
	}
	return conf, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// parseFingerprint reads "sha256:HEX" (HEX may have colons, any case).
func parseFingerprint(s string) ([]byte, error) {
	v, ok := strings.CutPrefix(strings.ToLower(s), "sha256:")
	if !ok {
		return nil, fmt.Errorf("--tls-fingerprint %q: want sha256:HEX", s)
	}
	b, err := hex.DecodeString(strings.ReplaceAll(v, ":", ""))
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("--tls-fingerprint %q: want sha256: and 64 hex digits", s)
	}
	return b, nil
}

// maxQueryNumbers bounds what a --query may expand to.
const maxQueryNumbers = 1 << 20

// parseQuery parses message numbers: "3", "1-10", "1,4,9-12".
func parseQuery(q string) ([]int, error) {
	var out []int
	seen := map[int]bool{}
	for _, part := range strings.Split(q, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(strings.TrimSpace(lo))
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(strings.TrimSpace(hi))
		}
		if err1 != nil || err2 != nil || a < 1 || b < a {
			return nil, fmt.Errorf("%q: want message numbers like 3, 1-10, 1,4,9-12", part)
		}
		if b-a >= maxQueryNumbers || len(out)+(b-a+1) > maxQueryNumbers {
			return nil, fmt.Errorf("%q: more than %d messages", part, maxQueryNumbers)
		}
		for n := a; n <= b; n++ {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	return out, nil
}

// inspect runs --cmd list and --cmd stat.
func (cj *clientJob) inspect(ctx context.Context, list bool) error {
	o := cj.opts
	if cj.store != nil {
		st, err := cj.store.get(ctx)
		if err != nil {
			return err
		}
		o.Store = st
	}
	secret, err := cj.secret(ctx)
	if err != nil {
		return err
	}
	o.Account.Secret = secret
	md, err := fetch.Inspect(ctx, o, list)
	if err != nil {
		return runError(err)
	}
	if !list {
		fmt.Fprintf(cj.out, "%d messages, %d octets\n", md.Count, md.Size)
		return nil
	}
	for _, m := range md.Messages {
		held := ""
		if md.HeldKnown {
			switch {
			case m.Held:
				held = "\theld (" + string(m.Tag) + ")"
			case m.Tag != "":
				held = "\t" + string(m.Tag) + " (unfinished: fetched again)"
			default:
				held = "\tnew"
			}
		}
		uidl := m.UIDL
		if uidl == "" {
			uidl = "-"
		}
		fmt.Fprintf(cj.out, "%d\t%d\t%s%s\n", m.Num, m.Size, uidl, held)
	}
	return nil
}

// runOnce is one run of --cmd retr or sync; the caller prints its summary.
func (cj *clientJob) runOnce(ctx context.Context) (fetch.Summary, error) {
	o := cj.opts
	st, err := cj.store.get(ctx)
	if err != nil {
		return fetch.Summary{}, err
	}
	o.Store = st
	secret, err := cj.secret(ctx)
	if err != nil {
		return fetch.Summary{}, err
	}
	o.Account.Secret = secret
	var mu sync.Mutex
	var bar *progressbar.ProgressBar
	if !cj.f.quiet && !cj.f.debug && !cj.f.verbose && isTerminal(cj.errw) {
		bar = progressbar.NewOptions64(-1,
			progressbar.OptionSetWriter(cj.errw),
			progressbar.OptionSetDescription("fetching"),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionSetWidth(30),
		)
	}
	var total int64
	var msgs, planned int
	o.OnPlan = func(p fetch.Plan) {
		mu.Lock()
		defer mu.Unlock()
		planned += p.Fetch
		total += p.FetchBytes
		if bar != nil && p.Fetch > 0 {
			bar.ChangeMax64(total)
		}
	}
	o.OnProgress = func(p fetch.Progress) {
		mu.Lock()
		defer mu.Unlock()
		msgs = p.Messages
		if bar != nil {
			bar.Describe(fmt.Sprintf("%d/%d messages", msgs, planned))
			bar.Set64(min(p.Bytes, total))
		}
	}
	o.OnMessage = func(e fetch.Event) {
		switch {
		case cj.f.dryRun:
			fmt.Fprintf(cj.out, "%s\t%d\t%d\t%s\n", strings.TrimPrefix(string(e.Outcome), "would"), e.Num, e.Size, e.UIDL)
		case e.Outcome == fetch.Failed:
			fmt.Fprintf(cj.errw, "izypop3: message %d (%s) failed: %v\n", e.Num, e.UIDL, e.Err)
		case cj.f.verbose:
			fmt.Fprintf(cj.out, "%s\t%d\t%d\t%s\t%s\n", e.Outcome, e.Num, e.Size, e.UIDL, e.UID)
		}
	}
	sum, err := fetch.Run(ctx, o)
	if bar != nil {
		bar.Finish()
	}
	return sum, runError(err)
}

// summaryLine is the one-line report of a run.
func summaryLine(s fetch.Summary, dry bool) string {
	if dry {
		return fmt.Sprintf("dry run: would fetch %d, would delete %d; %d held, %d too big", s.WouldFetch, s.WouldDelete, s.Held, s.TooBig)
	}
	return fmt.Sprintf("fetched %d (%s) in %s: %d unread, %d dup, %d conversionerror; %d held, %d too big, %d failed, %d deleted",
		s.Fetched(), humanBytes(s.Bytes), s.Elapsed.Round(time.Millisecond), s.Stored, s.Dup, s.ConversionError,
		s.Held, s.TooBig, s.Failed, s.Deleted)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d octets", n)
}

// runError maps a fetch error to its exit code.
func runError(err error) error {
	if err == nil {
		return nil
	}
	switch fetch.KindOf(err) {
	case fetch.KindAuth:
		return exitCodeError{exitAuth, err}
	case fetch.KindNetwork, fetch.KindProtocol:
		return exitCodeError{exitNetwork, err}
	case fetch.KindStore:
		return exitCodeError{exitStore, err}
	case fetch.KindPartial:
		return exitCodeError{exitPartial, err}
	}
	return err
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

// lineWriter serialises the debug transcript's lines onto w with a prefix.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Fprintf(l.w, "pop3: %s", p)
}
