package storehost

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/pluginhost"
)

// instance is one running plugin process and its connection. A go-plugin
// client cannot be restarted: a dead instance is replaced, never revived.
type instance struct {
	client  *plugin.Client
	remote  *pluginhost.Remote
	store   sdk.Store // remote narrowed to info.Capabilities
	info    pluginhost.Info
	gen     uint64 // 1 for the first instance of a Host, 2 for the next...
	pid     int
	sockDir string
	mtls    bool // the connection uses go-plugin's mutual TLS

	healthy atomic.Bool // a call completed on it (resets the restart backoff)
	gone    atomic.Bool // retired: dead or being killed
}

// LaunchError is a plugin that could not be started. Its message is one
// line naming the store and its binary.
type LaunchError struct {
	Name   string // store name
	Path   string // binary
	Reason string // one line, lower case
	Err    error  // underlying error, if any
}

func (e *LaunchError) Error() string {
	return fmt.Sprintf("store %q at %s: %s", e.Name, e.Path, e.Reason)
}

func (e *LaunchError) Unwrap() error { return e.Err }

// ErrNotPlugin is wrapped by the LaunchError of a binary that does not
// complete the izypop3 handshake (not a store plugin, wrong protocol).
var ErrNotPlugin = errors.New("not an izypop3 store plugin")

var pluginVersionRE = regexp.MustCompile(`Plugin version: (\d+)`)

// classify turns go-plugin's multi-line start errors into one line.
func classify(name, path string, err error) *LaunchError {
	le := &LaunchError{Name: name, Path: path, Err: err}
	msg := err.Error()
	first, _, _ := strings.Cut(msg, "\n")
	switch {
	case strings.Contains(msg, "incompatible API version"):
		v := "an unknown protocol"
		if m := pluginVersionRE.FindStringSubmatch(msg); m != nil {
			v = "protocol " + m[1]
		}
		le.Reason = fmt.Sprintf("speaks %s, this izypop3 speaks %d", v, pluginhost.ProtocolVersion)
		le.Err = fmt.Errorf("%w: %w", ErrNotPlugin, err)
	case strings.Contains(msg, "Unrecognized remote plugin message"):
		out := strings.TrimSpace(strings.TrimPrefix(first, "Unrecognized remote plugin message:"))
		if len(out) > 60 {
			out = out[:60] + "…"
		}
		if out == "" {
			le.Reason = "not an izypop3 store plugin (handshake failed: it exited before the handshake; see its log)"
		} else {
			le.Reason = fmt.Sprintf("not an izypop3 store plugin (handshake failed: it printed %q)", out)
		}
		le.Err = fmt.Errorf("%w: %w", ErrNotPlugin, err)
	case strings.Contains(msg, "plugin exited before we could connect"):
		le.Reason = "not an izypop3 store plugin (handshake failed: it exited before the handshake; see its log)"
		le.Err = fmt.Errorf("%w: %w", ErrNotPlugin, err)
	case strings.Contains(msg, "timeout while waiting for plugin to start"):
		le.Reason = "not an izypop3 store plugin (handshake failed: no handshake before the start timeout)"
		le.Err = fmt.Errorf("%w: %w", ErrNotPlugin, err)
	case strings.Contains(msg, "unsupported plugin protocol"):
		le.Reason = "not an izypop3 store plugin (handshake failed: it does not speak gRPC)"
		le.Err = fmt.Errorf("%w: %w", ErrNotPlugin, err)
	case strings.Contains(msg, "incompatible core API version"):
		le.Reason = "not an izypop3 store plugin (handshake failed: incompatible go-plugin core protocol)"
		le.Err = fmt.Errorf("%w: %w", ErrNotPlugin, err)
	default:
		le.Reason = "cannot start: " + first
	}
	return le
}

// pluginEnv is the environment of a plugin: the host's, minus any go-plugin
// variables (go-plugin adds its own) and those extra sets, plus extra, the
// private socket directory and, when verbose, the debug log level.
func pluginEnv(sockDir string, verbose bool, extra []string) []string {
	verbose = verbose && !strings.EqualFold(os.Getenv(sdk.EnvLogLevel), "trace")
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		for _, x := range extra {
			if k, _, _ := strings.Cut(x, "="); strings.HasPrefix(kv, k+"=") {
				return true
			}
		}
		return strings.HasPrefix(kv, "PLUGIN_") || strings.HasPrefix(kv, pluginhost.Handshake.MagicCookieKey+"=") ||
			verbose && strings.HasPrefix(kv, sdk.EnvLogLevel+"=")
	})
	env = append(env, extra...)
	if verbose {
		env = append(env, sdk.EnvLogLevel+"=debug")
	}
	return append(env, plugin.EnvUnixSocketDir+"="+sockDir)
}

// checkPin verifies the binary's SHA-256 against the pinned hex digest.
func checkPin(path, want string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("sha256 is %s, pinned %s", got, want)
	}
	return nil
}

// launch starts a new plugin process, checks the handshake and the store's
// identity, and hands over the configuration.
func (h *Host) launch(ctx context.Context) (*instance, error) {
	o := &h.opts
	var secure *plugin.SecureConfig
	if o.SHA256 != "" {
		sum, _ := hex.DecodeString(o.SHA256) // validated by Open
		if err := checkPin(h.path, o.SHA256); err != nil {
			return nil, &LaunchError{Name: o.Name, Path: h.path, Reason: err.Error(), Err: err}
		}
		// go-plugin checks again right before it starts the process.
		secure = &plugin.SecureConfig{Checksum: sum, Hash: sha256.New()}
	}
	// A private (0700) directory for the plugin's unix socket.
	sockDir, err := os.MkdirTemp(o.SocketDir, "izypop3-store-")
	if err != nil {
		return nil, fmt.Errorf("store %q: socket directory: %w", o.Name, err)
	}
	// Mutual TLS only where the socket's directory could be reached by
	// another user (see the package doc). Without it, under bench/vsdovecot's
	// pipelined client (2000 RETRs of ~20 KB from localfs), izypop3 + plugin
	// spent 65-80 µs of CPU per message instead of 85-90: the AES-GCM on
	// both sides and one write per 16 KiB TLS record in the plugin.
	mtls := !privateDir(sockDir)
	cmd := exec.Command(h.path, h.bin.Args()...)
	cmd.Env = pluginEnv(sockDir, o.Verbose, o.Env)
	setProcAttr(cmd)

	// go-plugin logs with hclog: its records, and the plugin's stderr lines
	// it parses, go through an adapter to the host's slog logger.
	hlog := pluginhost.HCLog(h.log)
	stdio := hlog.StandardWriter(&hclog.StandardLoggerOptions{InferLevels: true})
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  pluginhost.Handshake,
		Plugins:          pluginhost.PluginSet(),
		Cmd:              cmd,
		SecureConfig:     secure,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         mtls,
		// Not go-plugin's Managed list: it keeps every client it ever
		// started, so each restart would leak one entry. The host keeps
		// its own registry of live clients instead (see Cleanup).
		Managed:         false,
		SkipHostEnv:     true, // pluginEnv has it, minus PLUGIN_*
		StartTimeout:    o.StartTimeout,
		Logger:          quietInfo{hlog},
		SyncStdout:      stdio,
		SyncStderr:      stdio,
		GRPCDialOptions: append(pluginhost.DialOptions(), observeDialOptions(o.Name, o.Observer)...),
	})
	h.mu.Lock()
	h.started++
	in := &instance{client: client, sockDir: sockDir, gen: h.started, mtls: mtls}
	h.mu.Unlock()
	register(client)
	fail := func(err error) (*instance, error) {
		in.kill()
		return nil, err
	}
	rpc, err := startClient(client, mtls)
	if errors.Is(err, errCertNotAsked) {
		return fail(&LaunchError{Name: o.Name, Path: h.path,
			Reason: "not an izypop3 store plugin (handshake failed: it sent a TLS certificate on a link without TLS)",
			Err:    fmt.Errorf("%w: %w", ErrNotPlugin, err)})
	}
	if err != nil {
		if errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
			return fail(&LaunchError{Name: o.Name, Path: h.path, Reason: "sha256 does not match the pinned digest", Err: err})
		}
		return fail(classify(o.Name, h.path, err))
	}
	if id, err := strconv.Atoi(client.ID()); err == nil {
		in.pid = id
	}
	raw, err := rpc.Dispense(pluginhost.PluginName)
	if err != nil {
		return fail(&LaunchError{Name: o.Name, Path: h.path, Reason: "dispense: " + err.Error(), Err: err})
	}
	in.remote = raw.(*pluginhost.Remote)

	ictx, cancel := context.WithTimeout(ctx, o.StartTimeout)
	defer cancel()
	info, err := in.remote.Info(ictx)
	if err != nil {
		return fail(&LaunchError{Name: o.Name, Path: h.path,
			Reason: "not an izypop3 store plugin (GetInfo failed: " + oneLine(err) + ")", Err: fmt.Errorf("%w: %w", ErrNotPlugin, err)})
	}
	in.info = info
	in.store = pluginhost.Narrow(in.remote, info.Capabilities)
	if missing := missingCaps(h.caps, info.Capabilities); len(missing) > 0 {
		return fail(&LaunchError{Name: o.Name, Path: h.path,
			Reason: "restarted plugin lacks capabilities it had at the first start: " + strings.Join(missing, ", ")})
	}
	if err := h.configure(ictx, in); err != nil {
		return fail(err)
	}
	h.log.Debug("store plugin started", "path", h.path, "pid", in.pid, "version", info.Version, "sdk", info.SDKVersion, "mtls", in.mtls)
	return in, nil
}

// errCertNotAsked is startClient's error for a plugin whose handshake
// carried a server certificate although the host set up no TLS.
var errCertNotAsked = errors.New("handshake carries a TLS certificate on a link without TLS")

// startClient is client.Client. Without mtls, go-plugin panics on a
// handshake line carrying a server certificate (it loads it into the TLS
// config it has not got); startClient turns that into errCertNotAsked.
func startClient(client *plugin.Client, mtls bool) (rpc plugin.ClientProtocol, err error) {
	if !mtls {
		defer func() {
			if r := recover(); r != nil {
				rpc, err = nil, fmt.Errorf("%w (go-plugin: %v)", errCertNotAsked, r)
			}
		}()
	}
	return client.Client()
}

// configure hands the store its config block. A store without Configurer
// accepts only an empty one.
func (h *Host) configure(ctx context.Context, in *instance) error {
	if h.opts.InfoOnly {
		return nil
	}
	h.mu.Lock()
	cfg := h.opts.Config // replaced (never mutated) by Host.Configure
	h.mu.Unlock()
	c, ok := in.store.(sdk.Configurer)
	if !ok {
		// Takes no configuration: every key is unknown.
		return sdk.CheckConfig(h.opts.Name, nil, cfg)
	}
	// A store that describes its keys gets only those; the words for an
	// unknown key are then the same for every store.
	if keys := in.info.ConfigKeys; len(keys) > 0 {
		if err := sdk.CheckConfig(h.opts.Name, keys, cfg); err != nil {
			return err
		}
	}
	if cfg == nil {
		cfg = map[string]string{}
	}
	if err := c.Configure(ctx, cfg); err != nil {
		return &ConfigError{Store: h.opts.Name, Err: err}
	}
	return nil
}

// ConfigError is a store's refusal of its configuration block.
type ConfigError struct {
	Store string
	Err   error // the store's error, with its sentinel (errors.Is works)
}

// Error is the store's own words without the sentinel's ("invalid
// argument: "), which say nothing to a person.
func (e *ConfigError) Error() string {
	msg := e.Err.Error()
	for _, s := range []error{sdk.ErrInvalid, sdk.ErrUnavailable} {
		msg = strings.TrimPrefix(msg, s.Error()+": ")
	}
	// A store that starts its errors with its own name would say it twice.
	msg = strings.TrimPrefix(msg, e.Store+": ")
	return fmt.Sprintf("store %q: %s", e.Store, msg)
}

func (e *ConfigError) Unwrap() error { return e.Err }

// missingCaps lists the capabilities of want that got lacks. want is nil
// at the first start (h.caps is set after it).
func missingCaps(want, got []string) []string {
	var missing []string
	for _, c := range want {
		if !slices.Contains(got, c) {
			missing = append(missing, c)
		}
	}
	return missing
}

// kill stops the process (gracefully if it still answers) and removes its
// socket directory.
func (in *instance) kill() {
	in.gone.Store(true)
	in.client.Kill()
	unregister(in.client)
	os.RemoveAll(in.sockDir)
}

// live holds every plugin client started and not yet killed, for Cleanup.
var live = struct {
	sync.Mutex
	clients map[*plugin.Client]struct{}
}{clients: make(map[*plugin.Client]struct{})}

func register(c *plugin.Client) {
	live.Lock()
	live.clients[c] = struct{}{}
	live.Unlock()
}

func unregister(c *plugin.Client) {
	live.Lock()
	delete(live.clients, c)
	live.Unlock()
}

// liveClients is the number of plugin clients not yet killed.
func liveClients() int {
	live.Lock()
	defer live.Unlock()
	return len(live.clients)
}

func oneLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// quietInfo is go-plugin's logger with go-plugin's own Info records at
// debug level. Its only one is "plugin process exited", on every clean
// stop: the host logs a store's death and restarts itself, and one more
// line before a start-up error only hides the error. The plugin's own
// records (logged through Named loggers) keep their levels.
type quietInfo struct{ hclog.Logger }

func (q quietInfo) Info(msg string, args ...any) { q.Logger.Debug(msg, args...) }
