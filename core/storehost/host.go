package storehost

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/pluginhost"
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
	// Config is the store's config block (the --mimestore.* options with
	// the "mimestore." prefix removed), sent with Configure after every
	// start. A store that does not implement sdk.Configurer accepts only an
	// empty one. Default: empty.
	Config map[string]string
	// Logger receives the host's messages and the plugin's log lines (its
	// stderr, at their levels), with the attribute store=Name. Default:
	// discard.
	Logger *slog.Logger
	// Env sets variables (KEY=VALUE) in the plugin's environment, over the
	// host's own of the same name. Default: none.
	Env []string
	// Verbose starts the plugin with its debug log on (the seed's
	// mimestore.verbose): sdk.EnvLogLevel=debug in its environment, unless
	// that already asks for trace. Its lines reach Logger at their level, so
	// Logger must let debug through. Default false.
	Verbose bool
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
	// Observer, when set, is told of every store call and plugin restart
	// (for metrics). Default nil: none.
	Observer Observer
}

// Host is a store plugin seen from izypop3: a plugin process that it
// restarts, and the store it serves (Store).
//
// When the plugin process dies, calls in flight fail with an error wrapping
// sdk.ErrUnavailable; the next call starts a fresh process (after a backoff
// of MinRestartDelay doubling to MaxRestartDelay while restarts keep failing,
// reset once a call succeeds), configures it and proceeds.
//
// Capabilities are decided once, at Open: Store implements exactly the
// optional interfaces the first process advertised. A restarted process
// must advertise at least those; one that lacks any of them counts as a
// failed start (logged, calls fail with sdk.ErrUnavailable and the next call
// tries again), so that a value a consumer holds never loses a method it
// found by type assertion. Capabilities a restarted process adds are not
// used until the store is opened again.
//
// Maildrop locks (sdk.Locker) live in the plugin process and die with it: a
// lock token names the process that granted it, and the store bound to it
// (pluginhost.LockBinder) fails with pluginhost.ErrLockLost once that
// process is gone, even if a new one runs (the new one knows nothing of the
// lock, and another program may hold it by then).
type Host struct {
	opts  Options
	bin   Found // the binary and how it is started
	path  string
	log   *slog.Logger
	caps  []string  // capabilities of the first start, fixed
	store sdk.Store // hostStore{h} narrowed to caps

	sem chan struct{} // held while (re)starting

	mu       sync.Mutex
	cur      *instance // nil: none running
	info     pluginhost.Info
	started  uint64 // instances started so far: the generation of the last
	restarts int    // consecutive restarts without a successful call
	diedAt   time.Time
	closed   bool
}

// hostStore is the store of a Host: every call of the protocol, made on the
// running instance (started if needed), or, bound to a lock (gen != 0), on
// the instance that granted it and no other. Host.Store narrows it to the
// capabilities the plugin advertised.
type hostStore struct {
	h   *Host
	gen uint64 // 0: any instance; else the instance the calls are bound to
}

var _ pluginhost.Full = hostStore{}

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
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Observer == nil {
		opts.Observer = nopObserver{}
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
	bin, err := opts.Locator.Find(opts.Name, opts.Path)
	if err != nil {
		return nil, err
	}
	if opts.Name == "" {
		opts.Name = strings.TrimPrefix(baseName(bin.Path), BinaryPrefix)
	}
	h := &Host{
		opts: opts,
		bin:  bin,
		path: bin.Path,
		log:  opts.Logger.With("store", opts.Name),
		sem:  make(chan struct{}, 1),
	}
	in, err := h.launch(ctx)
	if err != nil {
		return nil, err
	}
	h.cur = in
	h.info = in.info
	h.caps = slices.Clone(in.info.Capabilities)
	h.store = pluginhost.Narrow(hostStore{h: h}, h.caps)
	return h, nil
}

// Store is the store the plugin serves, for consumers: an sdk.Store whose
// type assertions to the optional interfaces (sdk.Authenticator,
// sdk.TopFetcher, sdk.Locker with pluginhost.LockBinder, sdk.Checker,
// sdk.Configurer, sdk.Syncer, pluginhost.BatchFetcher,
// pluginhost.BatchPutter) succeed exactly for the
// capabilities the plugin advertised at Open. It is never an sdk.Closer:
// Close the Host. The same value is returned every time.
func (h *Host) Store() sdk.Store { return h.store }

// Info is what the plugin last started reported about itself: name,
// versions and capabilities (which may exceed those Store implements; see
// Host).
func (h *Host) Info() pluginhost.Info {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.info
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

// Path is the plugin binary (for a bundled store: the program bundling it).
func (h *Host) Path() string { return h.path }

// Bundled reports a store served by the program bundling it (Found.Bundled).
func (h *Host) Bundled() bool { return h.bin.Bundled }

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
		h.opts.Observer.PluginRestart(h.opts.Name, err)
		return nil, fmt.Errorf("%w: restarting: %w", sdk.ErrUnavailable, err)
	}
	if h.closed {
		go in.kill()
		return nil, ErrClosed
	}
	h.log.Info("store plugin restarted", "pid", in.pid)
	h.opts.Observer.PluginRestart(h.opts.Name, nil)
	h.cur = in
	h.info = in.info
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

// Ping checks that the plugin runs (starting it if needed) and answers.
// It says nothing of the store's own health: that is sdk.Checker, when
// Store implements it.
func (h *Host) Ping(ctx context.Context) error {
	in, err := h.get(ctx)
	if err != nil {
		return err
	}
	_, err = in.remote.Info(ctx)
	h.done(in, err)
	return err
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
func (s hostStore) List(ctx context.Context, mailbox string, opts sdk.ListOptions) iter.Seq2[sdk.Item, error] {
	return func(yield func(sdk.Item, error) bool) {
		in, err := s.instance(ctx)
		if err != nil {
			yield(sdk.Item{}, err)
			return
		}
		for it, err := range in.remote.List(ctx, mailbox, opts) {
			if err != nil {
				s.h.done(in, err)
				yield(sdk.Item{}, err)
				return
			}
			if !yield(it, nil) {
				break
			}
		}
		s.h.done(in, nil)
	}
}

// instance returns the instance s's calls go to: the running one (started
// if needed), or for a bound store the one that granted its lock.
func (s hostStore) instance(ctx context.Context) (*instance, error) {
	if s.gen == 0 {
		return s.h.get(ctx)
	}
	s.h.mu.Lock()
	in := s.h.cur
	closed := s.h.closed
	s.h.mu.Unlock()
	switch {
	case closed:
		return nil, ErrClosed
	case in == nil || in.gen != s.gen || !alive(in):
		return nil, pluginhost.ErrLockLost
	}
	return in, nil
}

// call runs f on s's instance and records the outcome.
func call[T any](ctx context.Context, s hostStore, f func(*instance) (T, error)) (T, error) {
	in, err := s.instance(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	v, err := f(in)
	s.h.done(in, err)
	if err != nil && s.gen != 0 && errors.Is(err, sdk.ErrUnavailable) && !alive(in) {
		// The process that held the lock died during the call.
		err = fmt.Errorf("%w: %w", pluginhost.ErrLockLost, err)
	}
	return v, err
}

// Stat implements sdk.Store.
func (s hostStore) Stat(ctx context.Context, mailbox string) (map[sdk.Tag]sdk.TagStat, error) {
	return call(ctx, s, func(in *instance) (map[sdk.Tag]sdk.TagStat, error) { return in.remote.Stat(ctx, mailbox) })
}

// Fetch implements sdk.Store. If the plugin dies while the message streams,
// Read returns an error wrapping sdk.ErrUnavailable.
func (s hostStore) Fetch(ctx context.Context, mailbox, uid string) (io.ReadCloser, error) {
	return call(ctx, s, func(in *instance) (io.ReadCloser, error) {
		rc, err := in.remote.Fetch(ctx, mailbox, uid)
		if err != nil {
			return nil, err
		}
		return &hostReader{rc: rc, h: s.h, in: in}, nil
	})
}

// FetchTop implements sdk.TopFetcher.
func (s hostStore) FetchTop(ctx context.Context, mailbox, uid string, lines int) (io.ReadCloser, error) {
	return call(ctx, s, func(in *instance) (io.ReadCloser, error) {
		rc, err := in.remote.FetchTop(ctx, mailbox, uid, lines)
		if err != nil {
			return nil, err
		}
		return &hostReader{rc: rc, h: s.h, in: in}, nil
	})
}

// FetchBatch implements pluginhost.BatchFetcher: one stream for several
// items. If the plugin dies mid-stream, Next and Read return an error
// wrapping sdk.ErrUnavailable and the next call restarts it, as for Fetch.
func (s hostStore) FetchBatch(ctx context.Context, mailbox string, uids []string) (pluginhost.BatchReader, error) {
	return call(ctx, s, func(in *instance) (pluginhost.BatchReader, error) {
		br, err := in.remote.FetchBatch(ctx, mailbox, uids)
		if err != nil {
			return nil, err
		}
		return &hostBatch{br: br, h: s.h, in: in}, nil
	})
}

// hostBatch notices a plugin that died mid-batch.
type hostBatch struct {
	br pluginhost.BatchReader
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

// PutBatch implements pluginhost.BatchPutter: one stream for the Puts of
// several items. If the plugin dies mid-batch, that Put and every later one
// return an error wrapping sdk.ErrUnavailable, and the next call (a new
// batch) restarts it, as for Put.
func (s hostStore) PutBatch(ctx context.Context, mailbox string) (pluginhost.BatchWriter, error) {
	return call(ctx, s, func(in *instance) (pluginhost.BatchWriter, error) {
		bw, err := in.remote.PutBatch(ctx, mailbox)
		if err != nil {
			return nil, err
		}
		bs, ok := bw.(batchSender)
		if !ok { // pluginhost's batch writer is always one
			bw.Close()
			return nil, errors.New("storehost: put batch: the plugin's batch writer cannot send ahead")
		}
		return &hostPutBatch{bw: bs, s: s, in: in}, nil
	})
}

// batchSender is pluginhost's BatchWriter: one that takes the next item
// before it answered the last.
type batchSender interface {
	pluginhost.BatchWriter
	sdk.BatchSender
}

// hostPutBatch notices a plugin that died mid-batch. It is an
// sdk.BatchSender (the plugin's stream takes the next item before it
// answered the last).
type hostPutBatch struct {
	bw batchSender
	s  hostStore
	in *instance
}

func (b *hostPutBatch) Put(opts sdk.PutOptions, body io.Reader) (sdk.PutResult, error) {
	res, err := b.bw.Put(opts, body)
	return res, b.note(err)
}

// Send implements sdk.BatchSender.
func (b *hostPutBatch) Send(opts sdk.PutOptions, body io.Reader) error {
	return b.note(b.bw.Send(opts, body))
}

// Result implements sdk.BatchSender.
func (b *hostPutBatch) Result() (sdk.PutResult, error) {
	res, err := b.bw.Result()
	return res, b.note(err)
}

// note tells the host how a call of the batch went, and says when a
// failure lost the plugin (and with it the maildrop lock).
func (b *hostPutBatch) note(err error) error {
	b.s.h.done(b.in, err)
	if err != nil && b.s.gen != 0 && errors.Is(err, sdk.ErrUnavailable) && !alive(b.in) {
		err = fmt.Errorf("%w: %w", pluginhost.ErrLockLost, err)
	}
	return err
}

func (b *hostPutBatch) Close() error { return b.bw.Close() }

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
func (s hostStore) SetTag(ctx context.Context, mailbox string, uids []string, tag sdk.Tag) ([]string, error) {
	return call(ctx, s, func(in *instance) ([]string, error) { return in.remote.SetTag(ctx, mailbox, uids, tag) })
}

// Delete implements sdk.Store.
func (s hostStore) Delete(ctx context.Context, mailbox string, uids []string) ([]string, error) {
	return call(ctx, s, func(in *instance) ([]string, error) { return in.remote.Delete(ctx, mailbox, uids) })
}

// Put implements sdk.Store.
func (s hostStore) Put(ctx context.Context, mailbox string, opts sdk.PutOptions, body io.Reader) (sdk.PutResult, error) {
	return call(ctx, s, func(in *instance) (sdk.PutResult, error) { return in.remote.Put(ctx, mailbox, opts, body) })
}

// Configure implements sdk.Configurer: it replaces the config block (used
// for every later restart too) and sends it to the running plugin.
func (s hostStore) Configure(ctx context.Context, config map[string]string) error {
	cfg := maps.Clone(config)
	_, err := call(ctx, s, func(in *instance) (struct{}, error) {
		s.h.mu.Lock()
		s.h.opts.Config = cfg
		s.h.mu.Unlock()
		return struct{}{}, s.h.configure(ctx, in)
	})
	return err
}

// Authenticate implements sdk.Authenticator.
func (s hostStore) Authenticate(ctx context.Context, user, pass string) (string, error) {
	return call(ctx, s, func(in *instance) (string, error) { return in.remote.Authenticate(ctx, user, pass) })
}

// Lock implements sdk.Locker. The token names the plugin process that
// holds the lock ("GEN:TOKEN", GEN the number of the instance, TOKEN the
// plugin's): see BindLock.
func (s hostStore) Lock(ctx context.Context, mailbox string) (string, error) {
	return call(ctx, s, func(in *instance) (string, error) {
		tok, err := in.remote.Lock(ctx, mailbox)
		if err != nil {
			return "", err
		}
		return strconv.FormatUint(in.gen, 10) + ":" + tok, nil
	})
}

// splitToken returns the instance number and the plugin's token of a token
// from Lock; gen 0 if token is not one.
func splitToken(token string) (gen uint64, tok string) {
	g, tok, ok := strings.Cut(token, ":")
	gen, err := strconv.ParseUint(g, 10, 64)
	if !ok || err != nil {
		return 0, ""
	}
	return gen, tok
}

// BindLock implements pluginhost.Full: the calls of the store it returns
// go to the instance that granted token, and fail with
// pluginhost.ErrLockLost once it is gone, even if a fresh one runs.
func (s hostStore) BindLock(_, token string) pluginhost.Full {
	gen, _ := splitToken(token)
	if gen == 0 {
		gen = ^uint64(0) // not a token of this host: no instance has it
	}
	return hostStore{h: s.h, gen: gen}
}

// Unlock implements sdk.Locker. A lost lock needs no unlocking: the error
// wraps pluginhost.ErrLockLost and no plugin is called.
func (s hostStore) Unlock(ctx context.Context, mailbox, token string) error {
	gen, tok := splitToken(token)
	if gen == 0 {
		return fmt.Errorf("%w: unlock: not a lock token of this store host", sdk.ErrInvalid)
	}
	_, err := call(ctx, hostStore{h: s.h, gen: gen}, func(in *instance) (struct{}, error) {
		return struct{}{}, in.remote.Unlock(ctx, mailbox, tok)
	})
	return err
}

// Sync implements sdk.Syncer. It may run in a fresh plugin process after
// a restart: sdk.Syncer requires Sync to cover what the dead one left.
func (s hostStore) Sync(ctx context.Context, mailbox string) error {
	_, err := call(ctx, s, func(in *instance) (struct{}, error) { return struct{}{}, in.remote.Sync(ctx, mailbox) })
	return err
}

// Check implements sdk.Checker.
func (s hostStore) Check(ctx context.Context) error {
	_, err := call(ctx, s, func(in *instance) (struct{}, error) { return struct{}{}, in.remote.Check(ctx) })
	return err
}
