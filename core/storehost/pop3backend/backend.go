// Package pop3backend adapts an sdk.Store to the POP3 server's Backend: it
// checks credentials, locks the maildrop, takes the maildrop snapshot at
// login and applies the session's changes to the store in the UPDATE state.
//
// Semantics (RFC 1939 §6, §8 and the project's design):
//
//   - The maildrop is a snapshot, at login, of the mailbox's items whose tag
//     is one of Options.MaildropTags (default: unread), in the store's List
//     order.
//   - A maildrop is exclusive (RFC 1939 §8): the store's sdk.Locker when it
//     has one (it excludes other processes and this one), else a lock of
//     this process. A second login gets -ERR [IN-USE].
//   - A session works through the store bound to its lock
//     (pluginhost.LockBinder, from a plugin host): if the plugin process
//     that held the lock dies, the lock is gone, and the session's next
//     store call fails; the session then ends with -ERR [SYS/TEMP]
//     (pop3server.ErrMaildropLost) and changes nothing.
//   - QUIT applies the DELE marks: tag archive (default) or delete. With
//     ConsumeOnRetr, retrieved messages are archived too.
//   - A session that ends without QUIT deletes nothing; with ConsumeOnRetr
//     its retrieved messages are tagged pop3failed, otherwise nothing
//     changes.
//   - DryRun logs every change and applies none.
//   - RETRs in snapshot order (message k right after k-1) are served from
//     one read-ahead stream over the next messages when the store is an
//     pluginhost.BatchFetcher (a plugin; see readAhead); any other RETR, and every
//     TOP, is one Fetch (or FetchTop). What the client receives is the same
//     either way.
//
// Only *pop3.Error values carry text to the client; a store's error text
// never does.
package pop3backend

import (
	"context"
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/izyware/izypop3/core/auth"
	"github.com/izyware/izypop3/core/pop3"
	"github.com/izyware/izypop3/core/pop3/pop3server"
	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/pluginhost"
)

// OnDele is what QUIT does to the messages marked by DELE.
type OnDele string

const (
	// OnDeleArchive tags them archive: nothing is lost (the default).
	OnDeleArchive OnDele = "archive"
	// OnDeleDelete removes them from the store for good.
	OnDeleDelete OnDele = "delete"
)

const (
	// updateBatch is the most UIDs sent in one SetTag or Delete call, so
	// that one gRPC message stays far below its 4 MiB limit (70-octet UIDs:
	// about 70 KiB).
	updateBatch = 1000

	// DefaultMaxStreams is Options.MaxStreams's default: at most 256 MiB
	// of message data buffered from a plugin.
	DefaultMaxStreams = 256

	// unlockTimeout bounds the store Unlock call made by Mailbox.Close,
	// which has no context of its own.
	unlockTimeout = 30 * time.Second

	// verifyTimeout bounds the List that checks an update whose store
	// call failed (see Update).
	verifyTimeout = 30 * time.Second
)

// Options configures New. The struct is copied; the zero value of each field
// means its default.
type Options struct {
	// Auth checks USER/PASS. Default: the store itself when it implements
	// sdk.Authenticator; New fails if there is neither. When Auth also
	// implements auth.APOPSecreter (auth.Password does), APOP is offered.
	Auth auth.Authenticator

	// MaildropTags selects the items that form the maildrop at login.
	// Default: [sdk.TagUnread].
	MaildropTags []sdk.Tag

	// OnDele is what QUIT does to DELE'd messages. Default OnDeleArchive.
	OnDele OnDele

	// ConsumeOnRetr is the seed's queue mode: after a clean QUIT the
	// messages retrieved whole by RETR are tagged archive (even without
	// DELE); when the session ends without QUIT they are tagged
	// pop3failed. Default false: RETR changes nothing.
	ConsumeOnRetr bool

	// DryRun logs every change QUIT or an abandoned session would make and
	// applies none (the seed's commitmode off). Default false: changes are
	// applied.
	DryRun bool

	// Tokens checks the OAuth 2.0 bearer tokens of the OAUTHBEARER and
	// XOAUTH2 SASL mechanisms (auth.CommandTokens, auth.Introspection).
	// Default: when the store is the authenticator (Auth nil), the store,
	// which receives the token as the password; otherwise none, and the
	// token mechanisms are not offered.
	Tokens auth.TokenAuthenticator

	// Logger receives credential-free logs. Default: discard.
	Logger *slog.Logger

	// MaxStreams is the most message streams (RETR, TOP, read-ahead, a
	// size computed at login) open from the store at once, over all
	// sessions. A stream from a plugin holds up to the connection's
	// flow-control window (1 MiB) of message data in this process while
	// its client is slow, so this bounds that memory in total (and the
	// plugin's side of the same streams). A RETR or TOP beyond it waits,
	// within the call's context, for a stream to close, then fails with
	// -ERR [SYS/TEMP]; the read-ahead is not started while none is free.
	// Default DefaultMaxStreams (256).
	MaxStreams int

	// readAheadIdle is how long an unused read-ahead stream stays open.
	// Default readAheadIdle; set shorter by tests.
	readAheadIdle time.Duration
}

// OptionError is the error of an option value New does not take.
type OptionError struct {
	Option string // the field of Options: "MaildropTags" or "OnDele"
	Value  string // the value refused
	Want   string // what the option takes
}

func (e *OptionError) Error() string {
	return fmt.Sprintf("pop3backend: %s %q: want %s", e.Option, e.Value, e.Want)
}

// Validate checks the option values New would refuse (MaildropTags,
// OnDele), without a store, so that a program can refuse them before it
// starts one. The error is an *OptionError.
func (o Options) Validate() error {
	for _, t := range o.MaildropTags {
		if !t.Valid() {
			return &OptionError{Option: "MaildropTags", Value: string(t), Want: fmt.Sprintf("one of %v", sdk.Tags)}
		}
	}
	switch o.OnDele {
	case "", OnDeleArchive, OnDeleDelete:
		return nil
	}
	return &OptionError{Option: "OnDele", Value: string(o.OnDele), Want: fmt.Sprintf("%q or %q", OnDeleArchive, OnDeleDelete)}
}

// Backend is the sdk.Store → pop3server.Backend adapter. Create it with New.
type Backend struct {
	store  sdk.Store
	opts   Options
	log    *slog.Logger
	locker sdk.Locker // nil if the store has none

	sasl *auth.SASL // the SASL mechanisms over Auth and Tokens

	// locked holds the mailboxes open in this process, for stores without
	// a Locker: that is then the only exclusion there is. A store's Locker
	// excludes sessions of this process as well (sdk.Locker), so a second
	// mechanism would only duplicate it.
	mu     sync.Mutex
	locked map[string]bool

	// streams holds a token per message stream open (Options.MaxStreams).
	streams chan struct{}
}

// apopBackend is a Backend whose authenticator knows clear passwords.
type apopBackend struct {
	*Backend
	secrets auth.APOPSecreter
}

var (
	_ pop3server.Backend     = (*Backend)(nil)
	_ pop3server.APOPBackend = apopBackend{}
	_ pop3server.Mailbox     = (*mailbox)(nil)
	_ pop3server.TopOpener   = (*mailbox)(nil)
)

// New returns a pop3server.Backend over store. The result also implements
// pop3server.APOPBackend when the authenticator can give clear secrets. The
// mailboxes it opens implement pop3server.TopOpener: through the store's
// sdk.TopFetcher when it has one, else one Fetch (so that TOP never reads
// ahead).
func New(store sdk.Store, opts Options) (pop3server.Backend, error) {
	b, err := newBackend(store, opts)
	if err != nil {
		return nil, err
	}
	if s, ok := b.opts.Auth.(auth.APOPSecreter); ok {
		return apopBackend{Backend: b, secrets: s}, nil
	}
	return b, nil
}

func newBackend(store sdk.Store, opts Options) (*Backend, error) {
	if store == nil {
		return nil, errors.New("pop3backend: nil store")
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.MaildropTags = slices.Clone(opts.MaildropTags)
	if len(opts.MaildropTags) == 0 {
		opts.MaildropTags = []sdk.Tag{sdk.TagUnread}
	}
	if opts.OnDele == "" {
		opts.OnDele = OnDeleArchive
	}
	// A store from the plugin host (storehost.Host.Store) implements
	// exactly the optional interfaces the plugin advertised: the type
	// assertions here and in open are the whole capability check.
	if opts.Auth == nil {
		a, ok := store.(sdk.Authenticator)
		if !ok {
			return nil, errors.New("pop3backend: no authenticator: give Options.Auth or use a store that authenticates")
		}
		opts.Auth = storeAuth{a}
		if opts.Tokens == nil {
			opts.Tokens = auth.PasswordTokens{Auth: opts.Auth}
		}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.readAheadIdle <= 0 {
		opts.readAheadIdle = readAheadIdle
	}
	if opts.MaxStreams <= 0 {
		opts.MaxStreams = DefaultMaxStreams
	}
	b := &Backend{
		store:   store,
		opts:    opts,
		log:     opts.Logger,
		locked:  make(map[string]bool),
		sasl:    &auth.SASL{Auth: opts.Auth, Tokens: opts.Tokens},
		streams: make(chan struct{}, opts.MaxStreams),
	}
	if l, ok := store.(sdk.Locker); ok {
		b.locker = l
	}
	return b, nil
}

// storeAuth is a store's sdk.Authenticator as an auth.Authenticator: the
// store's "wrong credentials" (sdk.ErrAuthFailed) becomes core's
// (auth.ErrAuthFailed) here, so that the rest of core knows one sentinel.
// core/auth has its own interface and sentinel because it does not depend
// on the store contract. User names that break auth.ValidateUser are
// refused before they reach the store, and so is a mailbox name the store
// returns that breaks it.
type storeAuth struct{ a sdk.Authenticator }

func (s storeAuth) Authenticate(ctx context.Context, user, pass string) (string, error) {
	if err := auth.ValidateUser(user); err != nil {
		return "", fmt.Errorf("%w: %w", auth.ErrAuthFailed, err)
	}
	mb, err := s.a.Authenticate(ctx, user, pass)
	if errors.Is(err, sdk.ErrAuthFailed) {
		err = fmt.Errorf("%w: %w", auth.ErrAuthFailed, err)
	}
	if err == nil {
		if verr := auth.ValidateUser(mb); verr != nil {
			return "", fmt.Errorf("pop3backend: the store returned an invalid mailbox name: %w", verr)
		}
	}
	return mb, err
}

// errAuth is what the client sees for any credentials failure.
var errAuth = &pop3.Error{Code: pop3.CodeAuth, Text: "invalid user name or password"}

// errInUse is what the client sees when the maildrop is locked.
var errInUse = &pop3.Error{Code: pop3.CodeInUse, Text: "maildrop already in use"}

// Login checks USER/PASS with the authenticator and opens the maildrop.
func (b *Backend) Login(ctx context.Context, req pop3server.LoginRequest) (pop3server.Mailbox, error) {
	name, err := b.opts.Auth.Authenticate(ctx, req.User, req.Pass)
	if err != nil {
		return nil, b.authError(err, req.User, req.Remote)
	}
	return b.open(ctx, name, req.User, req.Remote)
}

// authError maps an authenticator's error: wrong credentials become
// -ERR [AUTH]; anything else stays a plain (logged, SYS/TEMP) error.
func (b *Backend) authError(err error, user, remote string) error {
	if errors.Is(err, auth.ErrAuthFailed) {
		// No user field: it may be a password typed into the wrong field.
		b.log.Info("login failed", "remote", remote, "reason", err)
		return errAuth
	}
	return fmt.Errorf("pop3backend: authenticate: %w", err)
}

// open locks the mailbox and returns it. The snapshot is taken by Messages.
func (b *Backend) open(ctx context.Context, name, user, remote string) (pop3server.Mailbox, error) {
	m := &mailbox{b: b, name: name, store: b.store, log: b.log.With("mailbox", name, "user", user, "remote", remote)}
	if b.locker == nil {
		b.mu.Lock()
		if b.locked[name] {
			b.mu.Unlock()
			m.log.Info("maildrop in use in this process")
			return nil, errInUse
		}
		b.locked[name] = true
		b.mu.Unlock()
	} else {
		token, err := b.locker.Lock(ctx, name)
		if err != nil {
			if errors.Is(err, sdk.ErrInUse) {
				m.log.Info("maildrop locked by the store")
				return nil, errInUse
			}
			return nil, fmt.Errorf("pop3backend: lock mailbox %q: %w", name, err)
		}
		m.token, m.held = token, true
		if lb, ok := b.store.(pluginhost.LockBinder); ok {
			m.store = lb.Bind(name, token)
		}
	}
	m.top, _ = m.store.(sdk.TopFetcher)
	m.batch, _ = m.store.(pluginhost.BatchFetcher)
	m.log.Debug("maildrop opened")
	return m, nil
}

func (b *Backend) release(name string) {
	b.mu.Lock()
	delete(b.locked, name)
	b.mu.Unlock()
}

// APOPEnabled reports true: the authenticator knows clear secrets.
func (b apopBackend) APOPEnabled() bool { return true }

// LoginAPOP verifies digest == hex(MD5(timestamp + secret)) (RFC 1939 §7)
// and opens the maildrop the authenticator gives for that user and secret.
func (b apopBackend) LoginAPOP(ctx context.Context, user, timestamp, digest, remote string) (pop3server.Mailbox, error) {
	secret, ok := b.secrets.APOPSecret(user)
	sum := md5.Sum([]byte(timestamp + secret))
	want := hex.EncodeToString(sum[:])
	if subtle.ConstantTimeCompare([]byte(want), []byte(digest)) != 1 || !ok {
		b.log.Info("APOP login failed", "remote", remote)
		return nil, errAuth
	}
	name, err := b.opts.Auth.Authenticate(ctx, user, secret)
	if err != nil {
		return nil, b.authError(err, user, remote)
	}
	return b.open(ctx, name, user, remote)
}

// mailbox is one session's maildrop.
type mailbox struct {
	b     *Backend
	name  string
	token string // the store lock's token
	held  bool   // the store lock is held (a Locker's token may be "")
	log   *slog.Logger
	// store is b.store, or the store bound to the lock; top and batch are
	// its optional interfaces (nil if it has none).
	store sdk.Store
	top   sdk.TopFetcher
	batch pluginhost.BatchFetcher

	uids []string   // the snapshot (set by Messages), in message-number order
	ra   *readAhead // nil: the store cannot stream several messages

	once sync.Once
}

// Messages lists the maildrop: the items with one of the maildrop tags, in
// List order. An item whose WireSize the store does not know is read once
// to compute it.
func (m *mailbox) Messages(ctx context.Context) ([]pop3server.Message, error) {
	var msgs []pop3server.Message
	seen := make(map[string]bool)
	for it, err := range m.store.List(ctx, m.name, sdk.ListOptions{Tags: m.b.opts.MaildropTags}) {
		if err != nil {
			return nil, m.lost(fmt.Errorf("pop3backend: list mailbox %q: %w", m.name, err))
		}
		if seen[it.UID] || !pop3.ValidUID(it.UID) {
			// A broken store must not break the session or the UIDL
			// listing: leave the item out.
			m.log.Warn("store listed an invalid or repeated UID; item left out of the maildrop", "uid", fmt.Sprintf("%.80q", it.UID))
			continue
		}
		seen[it.UID] = true
		size := it.WireSize
		if size == 0 && it.Size > 0 {
			var err error
			if size, err = m.wireSize(ctx, it.UID); err != nil {
				return nil, err
			}
		}
		// Equal sizes: no line end to convert (each bare LF or lone CR,
		// and a missing final CRLF, makes the wire size larger).
		msgs = append(msgs, pop3server.Message{UID: it.UID, Size: size, WireForm: size > 0 && size == it.Size})
	}
	m.log.Debug("maildrop snapshot", "messages", len(msgs))
	m.uids = make([]string, len(msgs))
	for i, msg := range msgs {
		m.uids[i] = msg.UID
	}
	if m.batch != nil {
		m.ra = newReadAhead(m.fetchBatch, m.uids, m.b.opts.readAheadIdle)
	}
	return msgs, nil
}

// fetchBatch opens a read-ahead stream.
func (m *mailbox) fetchBatch(ctx context.Context, uids []string) (pluginhost.BatchReader, error) {
	select {
	case m.b.streams <- struct{}{}:
	default:
		return nil, errBusy // read ahead only with a stream to spare
	}
	br, err := m.batch.FetchBatch(ctx, m.name, uids)
	if err != nil {
		<-m.b.streams
		return nil, err
	}
	return &slotBatch{BatchReader: br, release: m.b.releaseStream}, nil
}

// errBusy: every one of Options.MaxStreams is in use.
var errBusy = &pop3.Error{Code: pop3.CodeSysTemp, Text: "server busy sending other messages, try again later"}

// acquireStream takes one of Options.MaxStreams, waiting within ctx.
func (b *Backend) acquireStream(ctx context.Context) error {
	select {
	case b.streams <- struct{}{}:
		return nil
	default:
	}
	select {
	case b.streams <- struct{}{}:
		return nil
	case <-ctx.Done():
		b.log.Warn("no message stream free (max streams reached)", "max_streams", cap(b.streams))
		return errBusy
	}
}

func (b *Backend) releaseStream() { <-b.streams }

// openStream runs open, a Fetch or FetchTop, with one of
// Options.MaxStreams, given back when the reader is closed.
func (b *Backend) openStream(ctx context.Context, open func() (io.ReadCloser, error)) (io.ReadCloser, error) {
	if err := b.acquireStream(ctx); err != nil {
		return nil, err
	}
	rc, err := open()
	if err != nil {
		b.releaseStream()
		return nil, err
	}
	return &slotReader{ReadCloser: rc, release: b.releaseStream}, nil
}

// slotReader gives its stream back to Options.MaxStreams when closed.
type slotReader struct {
	io.ReadCloser
	release func()
	once    sync.Once
}

func (r *slotReader) Close() error {
	err := r.ReadCloser.Close()
	r.once.Do(r.release)
	return err
}

// slotBatch is slotReader for a read-ahead stream.
type slotBatch struct {
	pluginhost.BatchReader
	release func()
	once    sync.Once
}

func (r *slotBatch) Close() error {
	err := r.BatchReader.Close()
	r.once.Do(r.release)
	return err
}

// wireSize reads a message to compute the size POP3 transmits.
func (m *mailbox) wireSize(ctx context.Context, uid string) (int64, error) {
	rc, err := m.b.openStream(ctx, func() (io.ReadCloser, error) { return m.store.Fetch(ctx, m.name, uid) })
	if err == errBusy {
		return 0, err
	}
	if err != nil {
		return 0, fmt.Errorf("pop3backend: fetch %q to compute its size: %w", uid, err)
	}
	defer rc.Close()
	n, err := sdk.WireSizeOf(rc)
	if err != nil {
		return 0, fmt.Errorf("pop3backend: read %q to compute its size: %w", uid, err)
	}
	return n, nil
}

// errGone is what the client sees for a message removed from the store
// since the snapshot (by another program: this maildrop is locked).
var errGone = &pop3.Error{Text: "message is no longer in the store"}

// uid returns the UID of message n of the snapshot.
func (m *mailbox) uid(n int) (string, error) {
	if n < 1 || n > len(m.uids) {
		return "", fmt.Errorf("pop3backend: no message %d in a maildrop of %d", n, len(m.uids))
	}
	return m.uids[n-1], nil
}

// Open returns the stored octets of message n for RETR: from the
// read-ahead when n follows the message opened before it, else (and when
// the stream cannot give it: an item error, a broken stream) by Fetch.
func (m *mailbox) Open(ctx context.Context, n int) (io.ReadCloser, error) {
	uid, err := m.uid(n)
	if err != nil {
		return nil, err
	}
	if m.ra != nil {
		if rc := m.ra.open(ctx, n-1); rc != nil {
			return rc, nil
		}
	}
	rc, err := m.b.openStream(ctx, func() (io.ReadCloser, error) { return m.store.Fetch(ctx, m.name, uid) })
	if err == errBusy {
		return nil, err
	}
	if err != nil {
		return nil, m.openError(uid, err)
	}
	return rc, nil
}

// stopReadAhead ends the read-ahead stream at the end of the session.
func (m *mailbox) stopReadAhead() {
	if m.ra != nil {
		m.ra.close()
	}
}

// OpenTop returns the start of message n for TOP: through the store's
// TopFetcher, or one Fetch (the server cuts it), never the read-ahead,
// which would read every message of a header scan whole.
func (m *mailbox) OpenTop(ctx context.Context, n, lines int) (io.ReadCloser, error) {
	uid, err := m.uid(n)
	if err != nil {
		return nil, err
	}
	rc, err := m.b.openStream(ctx, func() (io.ReadCloser, error) {
		if m.top != nil {
			return m.top.FetchTop(ctx, m.name, uid, lines)
		}
		return m.store.Fetch(ctx, m.name, uid)
	})
	if err == errBusy {
		return nil, err
	}
	if err != nil {
		return nil, m.openError(uid, err)
	}
	return rc, nil
}

func (m *mailbox) openError(uid string, err error) error {
	if errors.Is(err, sdk.ErrNotFound) {
		m.log.Warn("message vanished from the store", "uid", uid)
		return errGone
	}
	return m.lost(fmt.Errorf("pop3backend: fetch %q: %w", uid, err))
}

// lost marks the error of a store call that failed because the session's
// maildrop lock died with the plugin process that held it: the server ends
// the session.
func (m *mailbox) lost(err error) error {
	if !errors.Is(err, pluginhost.ErrLockLost) {
		return err
	}
	m.log.Warn("maildrop lock lost with the store plugin process; ending the session without changes")
	return fmt.Errorf("%w: %w", pop3server.ErrMaildropLost, err)
}

// Update applies the session's changes after QUIT (RFC 1939 §6): the DELE
// marks per OnDele, and with ConsumeOnRetr the retrieved messages are
// archived. When a store call fails, the mailbox is listed again and an
// update found in place is a success.
func (m *mailbox) Update(ctx context.Context, deleted, retrieved []string) error {
	m.stopReadAhead()
	var archive, remove []string
	if m.b.opts.OnDele == OnDeleDelete {
		remove = deleted
	} else {
		archive = slices.Clone(deleted)
	}
	if m.b.opts.ConsumeOnRetr {
		marked := make(map[string]bool, len(deleted))
		for _, uid := range deleted {
			marked[uid] = true
		}
		for _, uid := range retrieved {
			if !marked[uid] {
				archive = append(archive, uid)
			}
		}
	}
	err := m.setTag(ctx, archive, sdk.TagArchive)
	if err == nil {
		err = m.delete(ctx, remove)
	}
	if err == nil || m.b.opts.DryRun {
		return err
	}
	// A store call can fail after its work was done: the plugin killed
	// between its change and its reply, a reply lost. The client must then
	// not be told that nothing, or not everything, was changed. The
	// mailbox is listed again (through the unbound store: a restarted
	// plugin answers it), and the answer follows what is in it.
	all, some, verr := m.applied(ctx, archive, remove)
	switch {
	case verr != nil:
		m.log.Warn("update failed and could not be checked", "error", verr)
		return err
	case all:
		m.log.Warn("a store call of the update failed, but the mailbox shows every change in place",
			"error", err, "archived", len(archive), "deleted", len(remove))
		return nil
	case some && errors.Is(err, pop3server.ErrMaildropLost):
		// Not "nothing was changed".
		return fmt.Errorf("pop3backend: update partly applied: %s", err.Error())
	}
	return err
}

// applied lists the mailbox and reports whether every change of an
// update is in it (each of archive tagged archive or gone, each of remove
// gone), and whether some is.
func (m *mailbox) applied(ctx context.Context, archive, remove []string) (all, some bool, err error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), verifyTimeout)
	defer cancel()
	tags := make(map[string]sdk.Tag)
	for it, err := range m.b.store.List(ctx, m.name, sdk.ListOptions{}) {
		if err != nil {
			return false, false, err
		}
		tags[it.UID] = it.Tag
	}
	all = true
	for _, uid := range archive {
		tag, ok := tags[uid]
		switch {
		case !ok:
		case tag == sdk.TagArchive:
			some = true
		default:
			all = false
		}
	}
	for _, uid := range remove {
		if _, ok := tags[uid]; ok {
			all = false
		} else {
			some = true
		}
	}
	return all, some, nil
}

// Abandon handles a session that ended without QUIT: nothing is deleted;
// with ConsumeOnRetr the retrieved messages are tagged pop3failed.
func (m *mailbox) Abandon(ctx context.Context, retrieved []string) error {
	m.stopReadAhead()
	if !m.b.opts.ConsumeOnRetr || len(retrieved) == 0 {
		return nil
	}
	return m.setTag(ctx, retrieved, sdk.TagPOP3Failed)
}

func (m *mailbox) setTag(ctx context.Context, uids []string, tag sdk.Tag) error {
	if len(uids) == 0 {
		return nil
	}
	if m.b.opts.DryRun {
		for _, uid := range uids {
			m.log.Info("dry run: would tag", "uid", uid, "tag", string(tag))
		}
		return nil
	}
	for batch := range slices.Chunk(uids, updateBatch) {
		notFound, err := m.store.SetTag(ctx, m.name, batch, tag)
		if err != nil {
			return m.lost(fmt.Errorf("pop3backend: tag %d messages %s: %w", len(batch), tag, err))
		}
		if len(notFound) > 0 {
			m.log.Warn("messages vanished before they could be tagged", "tag", string(tag), "uids", notFound)
		}
	}
	m.log.Info("tagged", "tag", string(tag), "messages", len(uids))
	return nil
}

func (m *mailbox) delete(ctx context.Context, uids []string) error {
	if len(uids) == 0 {
		return nil
	}
	if m.b.opts.DryRun {
		for _, uid := range uids {
			m.log.Info("dry run: would delete", "uid", uid)
		}
		return nil
	}
	for batch := range slices.Chunk(uids, updateBatch) {
		notFound, err := m.store.Delete(ctx, m.name, batch)
		if err != nil {
			return m.lost(fmt.Errorf("pop3backend: delete %d messages: %w", len(batch), err))
		}
		if len(notFound) > 0 {
			m.log.Warn("messages vanished before they could be deleted", "uids", notFound)
		}
	}
	m.log.Info("deleted", "messages", len(uids))
	return nil
}

// Close releases the store lock, or the in-process lock. A lock lost with
// its plugin process needs no release.
func (m *mailbox) Close() error {
	var err error
	m.once.Do(func() {
		m.stopReadAhead()
		if !m.held {
			m.b.release(m.name)
			m.log.Debug("maildrop closed")
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), unlockTimeout)
		defer cancel()
		switch uerr := m.b.locker.Unlock(ctx, m.name, m.token); {
		case uerr == nil:
			m.log.Debug("maildrop closed")
		case errors.Is(uerr, pluginhost.ErrLockLost):
			m.log.Info("maildrop closed; its lock had died with the store plugin process")
		default:
			m.log.Warn("unlock failed", "error", uerr)
			err = fmt.Errorf("pop3backend: unlock mailbox %q: %w", m.name, uerr)
		}
	})
	return err
}
