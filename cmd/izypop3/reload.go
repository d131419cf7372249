package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/pflag"

	"github.com/izyware/izypop3/core/auth"
	"github.com/izyware/izypop3/core/auth/sasl"
)

// SIGHUP makes serverpop3 read its settings again, as at start-up: the
// command line, the IZYPOP3_* environment it started with and the --config
// file. Three things change at run time, without dropping a session:
//
//   - the users file (--users), read again even when its name is the same;
//   - the shared password (--password, --password-file);
//   - the TLS certificate and key (--tls-cert, --tls-key): new handshakes
//     get the new certificate, open TLS sessions keep theirs.
//
// A file that does not load keeps the old one in force (one ERROR line
// each); a config file that does not parse keeps everything. Any other
// setting that changed is named in a WARN line as needing a restart.

// reloadFlags are the settings a reload applies; they are compared by what
// they load, not by their text.
var reloadFlags = []string{"users", "password", "password-file", "tls-cert", "tls-key"}

// flagValues is the text of every flag of fs.
func flagValues(fs *pflag.FlagSet) map[string]string {
	vals := map[string]string{}
	fs.VisitAll(func(fl *pflag.Flag) { vals[fl.Name] = fl.Value.String() })
	return vals
}

// liveUsers is a users file that a reload replaces; sessions that logged in
// before keep their mailbox.
type liveUsers struct {
	cur    atomic.Pointer[auth.UsersFile]
	digest string // SHA-256 of the file in force (the reloader's only)
}

var (
	_ auth.Authenticator = (*liveUsers)(nil)
	_ auth.SCRAMSecreter = (*liveUsers)(nil)
)

func (l *liveUsers) Authenticate(ctx context.Context, user, pass string) (string, error) {
	return l.cur.Load().Authenticate(ctx, user, pass)
}
func (l *liveUsers) HasSCRAM() bool { return l.cur.Load().HasSCRAM() }
func (l *liveUsers) SCRAMCredentials(user string) (sasl.SCRAMCredentials, string, bool) {
	return l.cur.Load().SCRAMCredentials(user)
}

// loadUsers reads the users file at path; digest identifies its contents.
func loadUsers(path string) (u *auth.UsersFile, digest string, err error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, "", err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, auth.MaxUsersFileSize+1))
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	if u, err = auth.ParseUsersFile(bytes.NewReader(data)); err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	sum := sha256.Sum256(data)
	return u, hex.EncodeToString(sum[:]), nil
}

// livePassword is the seed mode's shared password, which a reload replaces.
type livePassword struct {
	cur    atomic.Pointer[auth.Password]
	secret string // the password in force (the reloader's only)
}

var (
	_ auth.Authenticator = (*livePassword)(nil)
	_ auth.APOPSecreter  = (*livePassword)(nil)
)

func (l *livePassword) Authenticate(ctx context.Context, user, pass string) (string, error) {
	return l.cur.Load().Authenticate(ctx, user, pass)
}
func (l *livePassword) APOPSecret(user string) (string, bool) { return l.cur.Load().APOPSecret(user) }

func newLivePassword(pw string) (*livePassword, error) {
	p, err := auth.NewPassword(pw)
	if err != nil {
		return nil, err
	}
	l := &livePassword{secret: pw}
	l.cur.Store(p)
	return l, nil
}

// liveCert is the server's certificate, which a reload replaces: the TLS
// configuration asks it for the certificate of every new handshake.
type liveCert struct {
	cur atomic.Pointer[tls.Certificate]
}

func (l *liveCert) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return l.cur.Load(), nil
		},
	}
}

// loadCert reads a PEM certificate chain and its key.
func loadCert(certPath, keyPath string) (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, err
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, err
		}
	}
	return &cert, nil
}

// certFingerprint is the SHA-256 of the leaf certificate, in hex.
func certFingerprint(c *tls.Certificate) string {
	sum := sha256.Sum256(c.Certificate[0])
	return hex.EncodeToString(sum[:])
}

// reloader applies SIGHUP to a running server.
type reloader struct {
	log      *slog.Logger
	environ  []string
	vals     map[string]string // flag values in force
	store    map[string]string // the store's configuration in force
	users    *liveUsers        // nil: not --users
	password *livePassword     // nil: not --password
	cert     *liveCert         // nil: no TLS
}

// reload reads the settings again and applies what can change at run time.
func (r *reloader) reload() {
	start := time.Now()
	r.log.Info("SIGHUP: reloading the configuration, the users file and the TLS certificate")
	f, vals, store, err := resolveServer(cmdLine, r.environ)
	if err != nil {
		r.log.Error("reload: the settings do not load; everything stays as it was", "error", err)
		return
	}
	changed := 0
	if r.users != nil && f.usersFile != "" {
		changed += r.reloadUsers(f.usersFile)
	}
	if r.password != nil && (f.password != "" || f.passwordFile != "") {
		changed += r.reloadPassword(f)
	}
	if r.cert != nil && f.tlsCert != "" && f.tlsKey != "" {
		changed += r.reloadCert(f.tlsCert, f.tlsKey)
	}

	var restart []string
	for name, v := range vals {
		if old, ok := r.vals[name]; ok && old != v && !slices.Contains(reloadFlags, name) {
			restart = append(restart, "--"+name)
		}
	}
	for k := range mergeKeys(store, r.store) {
		if store[k] != r.store[k] {
			restart = append(restart, "--"+storeConfigPrefix+k)
		}
	}
	// A change of mode (the password, the users file, TLS on or off).
	mode := func(f map[string]string, names ...string) string {
		var on []string
		for _, n := range names {
			if f[n] != "" {
				on = append(on, n)
			}
		}
		return strings.Join(on, ",")
	}
	for _, group := range [][]string{{"users"}, {"password", "password-file"}, {"tls-cert", "tls-key"}} {
		if (mode(vals, group...) == "") != (mode(r.vals, group...) == "") {
			for _, n := range group {
				if vals[n] != r.vals[n] {
					restart = append(restart, "--"+n)
				}
			}
		}
	}
	if len(restart) > 0 {
		sort.Strings(restart)
		r.log.Warn("reload: changed settings that need a restart; the old values stay in force", "needs_restart", strings.Join(restart, " "))
	}
	r.log.Info("reloaded", "changed", changed, "needs_restart", len(restart), "took", time.Since(start).Round(time.Millisecond).String())
}

func mergeKeys(a, b map[string]string) map[string]bool {
	keys := map[string]bool{}
	for k := range maps.Keys(a) {
		keys[k] = true
	}
	for k := range maps.Keys(b) {
		keys[k] = true
	}
	return keys
}

// reloadUsers loads the users file at path; it returns 1 when the file in
// force changed.
func (r *reloader) reloadUsers(path string) int {
	u, digest, err := loadUsers(path)
	if err != nil {
		r.log.Error("reload: the users file does not load; the old one stays in force", "file", path, "error", err)
		return 0
	}
	old := r.vals["users"]
	r.vals["users"] = path
	if digest == r.users.digest {
		r.log.Info("reload: users file unchanged", "file", path, "users", u.Len())
		return 0
	}
	was := r.users.cur.Load().Len()
	r.users.cur.Store(u)
	r.users.digest = digest
	r.log.Info("reload: users file changed: new logins use it", "file", path, "previous_file", old, "users", u.Len(), "previous_users", was)
	return 1
}

// reloadPassword sets the shared password of f; it returns 1 when it changed.
func (r *reloader) reloadPassword(f *serverFlags) int {
	pw, src := f.password, "--password"
	if f.passwordFile != "" {
		var err error
		if pw, err = readSecretFile("password-file", f.passwordFile); err != nil {
			r.log.Error("reload: the password file does not load; the old password stays in force", "error", err)
			return 0
		}
		src = f.passwordFile
	}
	r.vals["password"], r.vals["password-file"] = f.password, f.passwordFile
	if pw == r.password.secret {
		r.log.Info("reload: password unchanged", "from", src)
		return 0
	}
	p, err := auth.NewPassword(pw)
	if err != nil {
		r.log.Error("reload: the password is refused; the old one stays in force", "from", src, "error", err)
		return 0
	}
	r.password.cur.Store(p)
	r.password.secret = pw
	r.log.Info("reload: password changed: new logins use it", "from", src)
	return 1
}

// reloadCert loads the certificate and key; it returns 1 when the
// certificate in force changed.
func (r *reloader) reloadCert(certPath, keyPath string) int {
	c, err := loadCert(certPath, keyPath)
	if err != nil {
		r.log.Error("reload: the TLS certificate does not load; the old one stays in force", "cert", certPath, "key", keyPath, "error", err)
		return 0
	}
	r.vals["tls-cert"], r.vals["tls-key"] = certPath, keyPath
	old := r.cert.cur.Load()
	if fp := certFingerprint(c); fp == certFingerprint(old) {
		r.log.Info("reload: TLS certificate unchanged", "cert", certPath, "sha256", fp)
		return 0
	}
	r.cert.cur.Store(c)
	r.log.Info("reload: TLS certificate changed: new handshakes use it", "cert", certPath,
		"sha256", certFingerprint(c), "previous_sha256", certFingerprint(old),
		"subject", c.Leaf.Subject.String(), "not_after", c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	return 1
}

// resolveServer parses the serverpop3 command line again and fills it from
// environ and the --config file, as at start-up. It returns the flags, their
// text and the store's configuration.
func resolveServer(cl commandLine, environ []string) (*serverFlags, map[string]string, map[string]string, error) {
	cmd, f := serverCommand()
	if err := cmd.ParseFlags(cl.args); err != nil {
		return nil, nil, nil, err
	}
	store, _, _, err := resolveConfigSrc(cmd, maps.Clone(cl.store), environ)
	if err != nil {
		return nil, nil, nil, err
	}
	return f, flagValues(cmd.Flags()), store, nil
}
