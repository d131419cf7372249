package storehost

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/izyware/izypop3/sdk"
)

// Defaults of Options.
const (
	// DefaultStartTimeout bounds a plugin's start: process start, handshake,
	// GetInfo and Configure (go-plugin's own default is 1 minute; a store
	// plugin starts in about 65 ms).
	DefaultStartTimeout = 10 * time.Second
	// DefaultMinRestartDelay is the wait before the first restart after a
	// plugin that had served calls died; it doubles on each consecutive
	// failure.
	DefaultMinRestartDelay = 50 * time.Millisecond
	// DefaultMaxRestartDelay caps the doubling restart delay.
	DefaultMaxRestartDelay = 5 * time.Second
	// pingTimeout bounds the liveness probe made after a call failed with
	// ErrUnavailable, to tell a dead plugin from a store that is
	// temporarily unavailable itself.
	pingTimeout = 2 * time.Second
)

// ConfigPrefix is the command-line prefix of store configuration keys.
const ConfigPrefix = "mimestore."

// StoreConfig extracts a store's config block from command-line style
// key-values: the keys starting with "mimestore.", prefix removed, without
// "modhandler" (which names the store).
func StoreConfig(kv map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range kv {
		if rest, ok := strings.CutPrefix(k, ConfigPrefix); ok && rest != "modhandler" && rest != "" {
			out[rest] = v
		}
	}
	return out
}

// Options configures Open. The struct is copied; zero values mean the
// documented defaults.
type Options struct {
	// Name is the store name (the --modhandler value): the binary is
	// izypop3-store-NAME. Required.
	Name string
	// Path is an explicit binary path; it skips the lookup. Default: found
	// by Locator.
	Path string
	// Locator says where to look for the binary. Default: plugin dir from
	// IZYPOP3_PLUGIN_DIR, the executable's directory, PATH.
	Locator Locator
	// SHA256 pins the binary: the hex SHA-256 it must have. Default: not
	// pinned.
	SHA256 string
	// Config is the store's config block (see StoreConfig), sent with
	// Configure after every start. A store that does not implement
	// sdk.Configurer accepts only an empty one. Default: empty.
	Config map[string]string
	// Logger receives the host's messages and the plugin's log lines (its
	// stderr). Default: a null logger.
	Logger hclog.Logger
	// InfoOnly starts the plugin without configuring it, to read its Info
	// (izypop3 plugins); other calls may then fail. Default false.
	InfoOnly bool
	// StartTimeout bounds one start. Default DefaultStartTimeout.
	StartTimeout time.Duration
	// MinRestartDelay and MaxRestartDelay bound the restart backoff.
	// Defaults DefaultMinRestartDelay and DefaultMaxRestartDelay.
	MinRestartDelay, MaxRestartDelay time.Duration
	// SocketDir is where the private per-plugin socket directories are
	// created. Default: os.TempDir().
	SocketDir string
}

// Host is a store plugin seen from izypop3: an sdk.Store (with every
// optional interface) backed by a plugin process that it restarts.
//
// When the plugin process dies, calls in flight fail with an error wrapping
// sdk.ErrUnavailable; the next call starts a fresh process (after a backoff
// of MinRestartDelay doubling to MaxRestartDelay while restarts keep failing,
// reset once a call succeeds), configures it and proceeds. Maildrop locks
// (sdk.Locker) held by a dead plugin die with it: a session holding one gets
// ErrUnavailable and must end.
type Host struct {
	opts Options
	path string
	log  hclog.Logger

	sem chan struct{} // held while (re)starting

	mu       sync.Mutex
	cur      *instance // nil: none running
	restarts int       // consecutive restarts without a successful call
	diedAt   time.Time
	closed   bool
}

var (
	_ sdk.Store         = (*Host)(nil)
	_ sdk.Configurer    = (*Host)(nil)
	_ sdk.Authenticator = (*Host)(nil)
	_ sdk.TopFetcher    = (*Host)(nil)
	_ sdk.Locker        = (*Host)(nil)
	_ sdk.Checker       = (*Host)(nil)
	_ sdk.Closer        = (*Host)(nil)
	_ sdk.BatchFetcher  = (*Host)(nil)
)

// ErrClosed is returned by calls on a closed Host; it wraps
// sdk.ErrUnavailable.
var ErrClosed = fmt.Errorf("%w: store host closed", sdk.ErrUnavailable)

// Open finds the plugin binary, starts it and configures it. Errors are one
// line (see LaunchError). The Host must be closed; Cleanup stops every plugin
// at once on exit paths.
func Open(ctx context.Context, opts Options) (*Host, error) {
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = DefaultStartTimeout
	}
	if opts.MinRestartDelay <= 0 {
		opts.MinRestartDelay = DefaultMinRestartDelay
	}
	if opts.MaxRestartDelay <= 0 {
		opts.MaxRestartDelay = DefaultMaxRestartDelay
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	cfg := make(map[string]string, len(opts.Config))
	for k, v := range opts.Config {
		cfg[k] = v
	}
	opts.Config = cfg
	if opts.SHA256 != "" {
		opts.SHA256 = strings.ToLower(opts.SHA256)
		if b, err := hex.DecodeString(opts.SHA256); err != nil || len(b) != 32 {
			return nil, fmt.Errorf("store %q: sha256 pin %q is not 64 hex digits", opts.Name, opts.SHA256)
		}
	}
	path, err := opts.Locator.Find(opts.Name, opts.Path)
	if err != nil {
		return nil, err
	}
	if opts.Name == "" {
		opts.Name = strings.TrimPrefix(baseName(path), BinaryPrefix)
	}
	h := &Host{
		opts: opts,
		path: path,
		log:  opts.Logger.Named("store").With("store", opts.Name),
		sem:  make(chan struct{}, 1),
	}
	in, err := h.launch(ctx)
	if err != nil {
		return nil, err
	}
	h.cur = in
	return h, nil
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// Cleanup kills every plugin process started by any Host and not yet
// stopped. Call it on every exit path of the program.
func Cleanup() {
	live.Lock()
	clients := make([]*plugin.Client, 0, len(live.clients))
	for c := range live.clients {
		clients = append(clients, c)
	}
	live.Unlock()
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Kill()
			unregister(c)
		}()
	}
	wg.Wait()
	plugin.CleanupClients() // anything go-plugin manages itself
}

// Path is the plugin binary.
func (h *Host) Path() string { return h.path }

// PID is the process id of the running plugin, 0 if none is running.
func (h *Host) PID() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cur == nil || h.cur.gone.Load() {
		return 0
	}
	return h.cur.pid
}

// alive reports whether in can take calls.
func alive(in *instance) bool {
	return in != nil && !in.gone.Load() && !in.client.Exited()
}

// get returns the running instance, starting a new one if there is none or
// the last one died.
func (h *Host) get(ctx context.Context) (*instance, error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	if in := h.cur; alive(in) {
		h.mu.Unlock()
		return in, nil
	}
	h.mu.Unlock()

	select {
	case h.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-h.sem }()

	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	if in := h.cur; alive(in) { // someone else restarted it
		h.mu.Unlock()
		return in, nil
	}
	if h.cur != nil {
		h.retireLocked(h.cur)
	}
	wait := time.Until(h.diedAt.Add(h.delayLocked()))
	h.mu.Unlock()

	if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
	in, err := h.launch(ctx)

	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		h.restarts++
		h.diedAt = time.Now()
		h.log.Error("store plugin restart failed", "error", err, "attempt", h.restarts)
		return nil, fmt.Errorf("%w: restarting: %w", sdk.ErrUnavailable, err)
	}
	if h.closed {
		go in.kill()
		return nil, ErrClosed
	}
	h.log.Info("store plugin restarted", "pid", in.pid)
	h.cur = in
	return in, nil
}

// delayLocked is the backoff before the next start.
func (h *Host) delayLocked() time.Duration {
	if h.restarts == 0 {
		return 0
	}
	d := h.opts.MinRestartDelay
	for i := 1; i < h.restarts && d < h.opts.MaxRestartDelay; i++ {
		d *= 2
	}
	return min(d, h.opts.MaxRestartDelay)
}

// retireLocked drops a dead instance and kills what is left of it in the
// background.
func (h *Host) retireLocked(in *instance) {
	if h.cur != in {
		return
	}
	h.cur = nil
	if in.healthy.Load() {
		h.restarts = 0
	}
	h.restarts++
	h.diedAt = time.Now()
	h.log.Warn("store plugin died", "pid", in.pid)
	in.gone.Store(true)
	go in.kill()
}

// done records the outcome of a call on in. An ErrUnavailable result makes
// the host check whether the plugin is still there.
func (h *Host) done(in *instance, err error) {
	if err == nil || !errors.Is(err, sdk.ErrUnavailable) {
		in.healthy.Store(true)
		return
	}
	if in.gone.Load() {
		return
	}
	dead := in.client.Exited()
	if !dead {
		ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
		_, perr := in.remote.Info(ctx)
		cancel()
		dead = perr != nil
	}
	if dead {
		h.mu.Lock()
		h.retireLocked(in)
		h.mu.Unlock()
	}
}

// Info returns the running plugin's name, versions and capabilities.
func (h *Host) Info(ctx context.Context) (sdk.Info, error) {
	in, err := h.get(ctx)
	if err != nil {
		return sdk.Info{}, err
	}
	return in.info, nil
}

// Close stops the plugin process. Later calls fail with ErrClosed.
func (h *Host) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	in := h.cur
	h.cur = nil
	h.mu.Unlock()
	if in != nil {
		in.kill()
	}
	return nil
}

// List implements sdk.Store.
func (h *Host) List(ctx context.Context, mailbox string, opts sdk.ListOptions) iter.Seq2[sdk.Item, error] {
	return func(yield func(sdk.Item, error) bool) {
		in, err := h.get(ctx)
		if err != nil {
			yield(sdk.Item{}, err)
			return
		}
		for it, err := range in.remote.List(ctx, mailbox, opts) {
			if err != nil {
				h.done(in, err)
				yield(sdk.Item{}, err)
				return
			}
			if !yield(it, nil) {
				break
			}
		}
		h.done(in, nil)
	}
}

// Stat implements sdk.Store.
func (h *Host) Stat(ctx context.Context, mailbox string) (map[sdk.Tag]sdk.TagStat, error) {
	in, err := h.get(ctx)
	if err != nil {
		return nil, err
	}
	st, err := in.remote.Stat(ctx, mailbox)
	h.done(in, err)
	return st, err
}

// Fetch implements sdk.Store. If the plugin dies while the message streams,
// Read returns an error wrapping sdk.ErrUnavailable.
func (h *Host) Fetch(ctx context.Context, mailbox, uid string) (io.ReadCloser, error) {
	in, err := h.get(ctx)
	if err != nil {
		return nil, err
	}
	rc, err := in.remote.Fetch(ctx, mailbox, uid)
	h.done(in, err)
	if err != nil {
		return nil, err
	}
	return &hostReader{rc: rc, h: h, in: in}, nil
}

// FetchTop implements sdk.TopFetcher (ErrUnsupported if the plugin lacks it).
func (h *Host) FetchTop(ctx context.Context, mailbox, uid string, lines int) (io.ReadCloser, error) {
	in, err := h.get(ctx)
	if err != nil {
		return nil, err
	}
	rc, err := in.remote.FetchTop(ctx, mailbox, uid, lines)
	h.done(in, err)
	if err != nil {
		return nil, err
	}
	return &hostReader{rc: rc, h: h, in: in}, nil
}

// FetchBatch implements sdk.BatchFetcher: one stream for several items
// (sdk.ErrUnsupported if the plugin predates the RPC). If the plugin dies
// mid-stream, Next and Read return an error wrapping sdk.ErrUnavailable and
// the next call restarts it, as for Fetch.
func (h *Host) FetchBatch(ctx context.Context, mailbox string, uids []string) (sdk.BatchReader, error) {
	in, err := h.get(ctx)
	if err != nil {
		return nil, err
	}
	br, err := in.remote.FetchBatch(ctx, mailbox, uids)
	h.done(in, err)
	if err != nil {
		return nil, err
	}
	return &hostBatch{br: br, h: h, in: in}, nil
}

// hostBatch notices a plugin that died mid-batch.
type hostBatch struct {
	br sdk.BatchReader
	h  *Host
	in *instance
}

func (b *hostBatch) Next() (string, io.Reader, error) {
	uid, r, err := b.br.Next()
	if err != nil {
		if err != io.EOF {
			b.h.done(b.in, err)
		}
		return uid, nil, err
	}
	return uid, &hostReader{rc: io.NopCloser(r), h: b.h, in: b.in}, nil
}

func (b *hostBatch) Close() error { return b.br.Close() }

// hostReader notices a plugin that died mid-stream.
type hostReader struct {
	rc io.ReadCloser
	h  *Host
	in *instance
}

func (r *hostReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	if err != nil && err != io.EOF {
		r.h.done(r.in, err)
	}
	return n, err
}

// WriteTo keeps the chunk-at-a-time copy of the underlying reader.
func (r *hostReader) WriteTo(w io.Writer) (int64, error) {
	wt, ok := r.rc.(io.WriterTo)
	if !ok {
		return io.Copy(w, struct{ io.Reader }{r})
	}
	n, err := wt.WriteTo(w)
	if err != nil {
		r.h.done(r.in, err)
	}
	return n, err
}

func (r *hostReader) Close() error { return r.rc.Close() }

// SetTag implements sdk.Store.
func (h *Host) SetTag(ctx context.Context, mailbox string, uids []string, tag sdk.Tag) ([]string, error) {
	in, err := h.get(ctx)
	if err != nil {
		return nil, err
	}
	nf, err := in.remote.SetTag(ctx, mailbox, uids, tag)
	h.done(in, err)
	return nf, err
}

// Delete implements sdk.Store.
func (h *Host) Delete(ctx context.Context, mailbox string, uids []string) ([]string, error) {
	in, err := h.get(ctx)
	if err != nil {
		return nil, err
	}
	nf, err := in.remote.Delete(ctx, mailbox, uids)
	h.done(in, err)
	return nf, err
}

// Put implements sdk.Store.
func (h *Host) Put(ctx context.Context, mailbox string, opts sdk.PutOptions, body io.Reader) (sdk.PutResult, error) {
	in, err := h.get(ctx)
	if err != nil {
		return sdk.PutResult{}, err
	}
	res, err := in.remote.Put(ctx, mailbox, opts, body)
	h.done(in, err)
	return res, err
}

// Configure implements sdk.Configurer: it replaces the config block (used
// for every later restart too) and sends it to the running plugin.
func (h *Host) Configure(ctx context.Context, config map[string]string) error {
	cfg := make(map[string]string, len(config))
	for k, v := range config {
		cfg[k] = v
	}
	in, err := h.get(ctx)
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.opts.Config = cfg
	h.mu.Unlock()
	err = h.configure(ctx, in)
	h.done(in, err)
	return err
}

// Authenticate implements sdk.Authenticator.
func (h *Host) Authenticate(ctx context.Context, user, pass string) (string, error) {
	in, err := h.get(ctx)
	if err != nil {
		return "", err
	}
	mb, err := in.remote.Authenticate(ctx, user, pass)
	h.done(in, err)
	return mb, err
}

// Lock implements sdk.Locker. The lock lives in the plugin process: if it
// dies, the lock is gone.
func (h *Host) Lock(ctx context.Context, mailbox string) (string, error) {
	in, err := h.get(ctx)
	if err != nil {
		return "", err
	}
	tok, err := in.remote.Lock(ctx, mailbox)
	h.done(in, err)
	return tok, err
}

// Unlock implements sdk.Locker.
func (h *Host) Unlock(ctx context.Context, mailbox, token string) error {
	in, err := h.get(ctx)
	if err != nil {
		return err
	}
	err = in.remote.Unlock(ctx, mailbox, token)
	h.done(in, err)
	return err
}

// Check implements sdk.Checker: the plugin is running (started if needed)
// and answers, and its own Check, if it has one, passes.
func (h *Host) Check(ctx context.Context) error {
	in, err := h.get(ctx)
	if err != nil {
		return err
	}
	err = in.remote.Check(ctx)
	if errors.Is(err, sdk.ErrUnsupported) {
		_, err = in.remote.Info(ctx)
	}
	h.done(in, err)
	return err
}
