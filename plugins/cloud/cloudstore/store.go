package cloudstore

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/izyware/izypop3/sdk"
)

// Name and Version identify the store (sdk.Info).
const (
	Name    = "cloud"
	Version = "0.1.0"
)

// Object user metadata the store writes (x-amz-meta-*).
const (
	metaSHA    = "izypop3-sha256"
	metaWire   = "izypop3-wire"
	metaSource = "izypop3-source" // percent-encoded: metadata is US-ASCII
)

// fillParallel is how many HEAD/GET requests learn the metadata of objects
// the store has not seen before (wire size of a foreign object, SourceID
// of one written by another server).
const fillParallel = 16

// changeParallel is how many copies or HEADs a tag change runs at once.
const changeParallel = 16

// tombstoneAge is how long the store remembers its own deletes, so that a
// listing that was under way when they happened does not bring them back
// into its view.
const tombstoneAge = time.Minute

// Store is the cloud mimestore. Create it with New and call Configure (the
// plugin does both).
type Store struct {
	log *slog.Logger

	mu        sync.Mutex
	cfg       Config
	s3        *s3.Client
	lay       layout
	mboxes    map[string]*mailbox
	locks     map[string]*heldLock
	owner     string // this store instance, in lock objects
	condWrite bool   // the backend honours If-None-Match / If-Match
	closed    bool
}

var (
	_ sdk.Store           = (*Store)(nil)
	_ sdk.Configurer      = (*Store)(nil)
	_ sdk.ConfigDescriber = (*Store)(nil)
	_ sdk.Locker          = (*Store)(nil)
	_ sdk.Checker         = (*Store)(nil)
	_ sdk.Closer          = (*Store)(nil)
	_ sdk.BatchFetcher    = (*Store)(nil)
)

// New returns an unconfigured store that logs to log (nil: discard).
func New(log *slog.Logger) *Store {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{log: log, owner: randomID()}
}

// ConfigKeys implements sdk.ConfigDescriber.
func (s *Store) ConfigKeys() []sdk.ConfigKey { return configKeys }

// Configure implements sdk.Configurer: it decodes the block strictly,
// builds the S3 client and checks, before it returns, that the bucket is
// there and the credentials work (an error names the endpoint, the bucket
// and the cause) and whether the backend honours conditional writes.
func (s *Store) Configure(ctx context.Context, config map[string]string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cfg, err := decodeConfig(config)
	if err != nil {
		return err
	}
	client, err := newClient(ctx, cfg, s.log)
	if err != nil {
		return err
	}
	lay := layout{}
	if cfg.Prefix != "" {
		lay.prefix = cfg.Prefix + "/"
	}
	if err := checkAccess(ctx, client, cfg, lay); err != nil {
		return err
	}
	cond, err := probeConditionalWrites(ctx, client, cfg, lay)
	if err != nil {
		return err
	}
	if !cond {
		s.log.Warn(fmt.Sprintf("cloud: %s ignores conditional writes (If-None-Match: *): maildrop locks cannot exclude other servers; only sessions of this server exclude each other", cfg))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("%w: cloud: store closed", sdk.ErrUnavailable)
	}
	s.stopLocksLocked()
	s.cfg, s.s3, s.lay, s.condWrite = cfg, client, lay, cond
	s.mboxes = make(map[string]*mailbox)
	s.locks = make(map[string]*heldLock)
	s.log.Info("cloud store ready", "target", cfg.String(), "conditional_writes", cond, "readahead", cfg.ReadAhead)
	return nil
}

// checkAccess lists one key of the store's prefix: it fails with the
// endpoint, the bucket and the cause when the bucket is missing, the
// credentials are wrong or the endpoint cannot be reached.
func checkAccess(ctx context.Context, c *s3.Client, cfg Config, lay layout) error {
	_, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(cfg.Bucket), Prefix: aws.String(lay.prefix), MaxKeys: aws.Int32(1)})
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		return fmt.Errorf("%w: cloud: %s: %s", startupKind(err), cfg, startupCause(err))
	}
	return nil
}

// probeConditionalWrites writes one probe object twice with If-None-Match: *
// and reports whether the second write was refused, as it must be.
func probeConditionalWrites(ctx context.Context, c *s3.Client, cfg Config, lay layout) (bool, error) {
	key := lay.prefix + ".izypop3-probe-" + randomID()
	put := func() error {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(key),
			Body: emptyBody(), ContentLength: aws.Int64(0), IfNoneMatch: aws.String("*")})
		return err
	}
	if err := put(); err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return false, cerr
		}
		return false, fmt.Errorf("%w: cloud: %s: cannot write to the bucket: %s", startupKind(err), cfg, startupCause(err))
	}
	err := put()
	_, derr := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(key)})
	if derr != nil && ctx.Err() == nil {
		return false, fmt.Errorf("%w: cloud: %s: cannot delete from the bucket: %s", startupKind(derr), cfg, startupCause(derr))
	}
	switch {
	case err == nil:
		return false, nil
	case isPreconditionFailed(err):
		return true, nil
	case ctx.Err() != nil:
		return false, ctx.Err()
	default:
		// Some servers answer a conditional write they do not support
		// with an error of their own (NotImplemented): no conditional
		// writes either.
		return false, nil
	}
}

// Check implements sdk.Checker: the bucket is reachable with the
// credentials.
func (s *Store) Check(ctx context.Context) error {
	c, cfg, lay, err := s.state()
	if err != nil {
		return err
	}
	_, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(cfg.Bucket), Prefix: aws.String(lay.prefix), MaxKeys: aws.Int32(1)})
	return s3Error(ctx, "list", cfg.Bucket, err)
}

// Close implements sdk.Closer: it releases the locks this store holds.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	locks := s.locks
	s.locks = nil
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, l := range locks {
		l.stop()
		s.deleteLock(ctx, l)
	}
	return nil
}

// state returns the client and layout, or an error if the store is not
// usable.
func (s *Store) state() (*s3.Client, Config, layout, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, Config{}, layout{}, fmt.Errorf("%w: cloud: store closed", sdk.ErrUnavailable)
	}
	if s.s3 == nil {
		return nil, Config{}, layout{}, fmt.Errorf("%w: cloud: not configured (mimestore.tablename is required)", sdk.ErrInvalid)
	}
	return s.s3, s.cfg, s.lay, nil
}

// obj is one object as listed.
type obj struct {
	size int64
	mod  time.Time
	seq  uint64 // mailbox.seq when this process added it; 0: from a listing
}

// meta is what is known of an object's content (keyed by name and size:
// the store never rewrites an object under the same name).
type meta struct {
	wire     int64
	wireOK   bool
	sha      string // "" until known
	src      string
	srcOK    bool
	received time.Time
}

type metaKey struct {
	name string
	size int64
}

// mailbox is the store's view of one mailbox: what it last listed of each
// tag, adjusted by its own changes since, and the journals in force.
type mailbox struct {
	s    *Store
	name string

	mu       sync.Mutex
	seq      uint64
	phys     map[sdk.Tag]map[string]*obj
	gone     map[sdk.Tag]map[string]tombstone
	meta     map[metaKey]*meta
	uidName  map[string]string // derived UID → name
	journals map[string]*journal
	full     bool                     // every tag listed at least once
	claims   map[string]chan struct{} // SourceIDs being Put
	pendSHA  map[string]string        // content hash → UID of a Put under way
}

type tombstone struct {
	seq uint64
	at  time.Time
}

func (s *Store) mailbox(name string) (*mailbox, *s3.Client, Config, layout, error) {
	if err := checkMailbox(name); err != nil {
		return nil, nil, Config{}, layout{}, err
	}
	c, cfg, lay, err := s.state()
	if err != nil {
		return nil, nil, Config{}, layout{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	mb := s.mboxes[name]
	if mb == nil {
		mb = &mailbox{s: s, name: name,
			phys:     make(map[sdk.Tag]map[string]*obj),
			gone:     make(map[sdk.Tag]map[string]tombstone),
			meta:     make(map[metaKey]*meta),
			uidName:  make(map[string]string),
			journals: make(map[string]*journal),
			claims:   make(map[string]chan struct{}),
			pendSHA:  make(map[string]string),
		}
		s.mboxes[name] = mb
	}
	return mb, c, cfg, lay, nil
}

// listPrefix lists the message objects directly under prefix, page by
// page (S3 returns at most 1000 keys a page).
func listPrefix(ctx context.Context, c *s3.Client, bucket, prefix string) (map[string]*obj, error) {
	out := make(map[string]*obj)
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix), Delimiter: aws.String("/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, s3Error(ctx, "list", prefix, err)
		}
		for _, o := range page.Contents {
			name := aws.ToString(o.Key)[len(prefix):]
			if !isMessageName(name) {
				continue
			}
			out[name] = &obj{size: aws.ToInt64(o.Size), mod: aws.ToTime(o.LastModified)}
		}
	}
	return out, nil
}

// refresh lists the given tags (and the journals) and merges the result
// into the view.
func (mb *mailbox) refresh(ctx context.Context, c *s3.Client, cfg Config, lay layout, tags []sdk.Tag) error {
	mb.mu.Lock()
	s0 := mb.seq
	mb.mu.Unlock()
	listings := make([]map[string]*obj, len(tags))
	errs := make([]error, len(tags)+1)
	var wg sync.WaitGroup
	for i, t := range tags {
		wg.Go(func() { listings[i], errs[i] = listPrefix(ctx, c, cfg.Bucket, lay.tagPrefix(mb.name, t)) })
	}
	var js map[string]*journal
	wg.Go(func() { js, errs[len(tags)] = mb.loadJournals(ctx, c, cfg, lay) })
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	mb.mu.Lock()
	for i, t := range tags {
		mb.mergeLocked(t, listings[i], s0)
	}
	mb.journals = js
	if len(tags) == len(sdk.Tags) {
		mb.full = true
	}
	// Pick the stale journals while holding mu: once js is mb.journals,
	// concurrent tag changes add to it and drop from it.
	stale := staleJournals(js)
	mb.mu.Unlock()
	return mb.recoverStale(ctx, c, cfg, lay, stale)
}

// mergeLocked replaces the view of tag t by a listing that started at
// sequence s0, keeping what this process added since and leaving out what
// it deleted since.
func (mb *mailbox) mergeLocked(t sdk.Tag, listing map[string]*obj, s0 uint64) {
	now := time.Now()
	for name, ts := range mb.gone[t] {
		if ts.seq > s0 {
			delete(listing, name)
		} else if now.Sub(ts.at) > tombstoneAge {
			delete(mb.gone[t], name)
		}
	}
	for name, o := range mb.phys[t] {
		if o.seq > s0 {
			if _, ok := listing[name]; !ok {
				listing[name] = o
			}
		}
	}
	mb.phys[t] = listing
}

// addLocked records an object this process wrote.
func (mb *mailbox) addLocked(t sdk.Tag, name string, size int64, mod time.Time) {
	mb.seq++
	if mb.phys[t] == nil {
		mb.phys[t] = make(map[string]*obj)
	}
	mb.phys[t][name] = &obj{size: size, mod: mod, seq: mb.seq}
	if g := mb.gone[t]; g != nil {
		delete(g, name)
	}
}

// removeLocked records an object this process deleted.
func (mb *mailbox) removeLocked(t sdk.Tag, name string) {
	mb.seq++
	delete(mb.phys[t], name)
	if mb.gone[t] == nil {
		mb.gone[t] = make(map[string]tombstone)
	}
	mb.gone[t][name] = tombstone{seq: mb.seq, at: time.Now()}
}

// entry is one item of the view.
type entry struct {
	name   string
	uid    string
	tag    sdk.Tag   // what the item is: journal or precedence decides
	copies []sdk.Tag // where it physically is, by precedence
	size   int64
	mod    time.Time
}

// physTagsLocked returns the tags an object name is listed under, by
// precedence.
func (mb *mailbox) physTagsLocked(name string) []sdk.Tag {
	var ts []sdk.Tag
	for _, t := range precedence {
		if _, ok := mb.phys[t][name]; ok {
			ts = append(ts, t)
		}
	}
	return ts
}

// entryLocked builds the entry of a name from the view, nil if it is
// nowhere.
func (mb *mailbox) entryLocked(name string) *entry {
	copies := mb.physTagsLocked(name)
	if len(copies) == 0 {
		return nil
	}
	e := &entry{name: name, uid: uidOf(name), copies: copies, tag: copies[0]}
	if to, ok := mb.journaledLocked(name); ok {
		e.tag = to
	}
	o := mb.phys[copies[0]][name]
	if slices.Contains(copies, e.tag) {
		o = mb.phys[e.tag][name]
	}
	e.size, e.mod = o.size, o.mod
	return e
}

// entriesLocked returns the items of the view whose tag is in tags, in
// List order: tag (sdk.Tags order), then time, then name.
func (mb *mailbox) entriesLocked(tags []sdk.Tag) []*entry {
	seen := make(map[string]bool)
	var out []*entry
	for _, t := range sdk.Tags {
		for name := range mb.phys[t] {
			if seen[name] {
				continue
			}
			seen[name] = true
			e := mb.entryLocked(name)
			if e == nil || !slices.Contains(tags, e.tag) {
				continue
			}
			if e.uid != name {
				mb.uidName[e.uid] = name
			}
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b *entry) int {
		if c := cmp.Compare(listRank(a.tag), listRank(b.tag)); c != 0 {
			return c
		}
		if c := a.mod.Compare(b.mod); c != 0 {
			return c
		}
		return cmp.Compare(a.name, b.name)
	})
	return out
}

// metaLocked returns the metadata record of an object, creating it from
// what the name tells.
func (mb *mailbox) metaLocked(name string, size int64) *meta {
	k := metaKey{name, size}
	m := mb.meta[k]
	if m == nil {
		m = &meta{}
		if ni := parseName(name); ni.ours {
			m.wire, m.wireOK, m.received = ni.wire, true, ni.received
			if ni.srcHash == "" {
				m.srcOK = true
			}
		}
		if size == 0 {
			m.wire, m.wireOK = 0, true
		}
		mb.meta[k] = m
	}
	return m
}

// fill learns, with bounded parallel requests, what entries still lack:
// the wire size and SourceID (and with needSHA the content hash). An
// object the store wrote answers a HEAD (its metadata); any other is read
// once.
func (mb *mailbox) fill(ctx context.Context, c *s3.Client, cfg Config, lay layout, es []*entry, needSHA bool) error {
	type job struct {
		e *entry
		m *meta
	}
	var jobs []job
	mb.mu.Lock()
	for _, e := range es {
		m := mb.metaLocked(e.name, e.size)
		if !m.wireOK || !m.srcOK || needSHA && m.sha == "" {
			jobs = append(jobs, job{e, m})
		}
	}
	mb.mu.Unlock()
	if len(jobs) == 0 {
		return nil
	}
	return parallel(ctx, fillParallel, len(jobs), func(ctx context.Context, i int) error {
		j := jobs[i]
		key := lay.key(mb.name, j.e.copies[0], j.e.name)
		got, err := learnMeta(ctx, c, cfg.Bucket, key, parseName(j.e.name).ours)
		if errors.Is(err, sdk.ErrNotFound) {
			return nil // gone meanwhile: listed with what is known
		}
		if err != nil {
			return err
		}
		mb.mu.Lock()
		*j.m = got
		mb.mu.Unlock()
		return nil
	})
}

// learnMeta reads the metadata of one object: a HEAD for an object the
// store wrote (its user metadata), else a GET that computes the wire size
// and the hash.
func learnMeta(ctx context.Context, c *s3.Client, bucket, key string, ours bool) (meta, error) {
	if ours {
		h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			return meta{}, s3Error(ctx, "head", key, err)
		}
		if m, ok := metaFromHeaders(h.Metadata); ok {
			return m, nil
		}
	}
	g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return meta{}, s3Error(ctx, "get", key, err)
	}
	defer g.Body.Close()
	m, _ := metaFromHeaders(g.Metadata)
	var wc sdk.WireCounter
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(h, &wc), g.Body); err != nil {
		return meta{}, s3Error(ctx, "get", key, err)
	}
	m.wire, m.wireOK = wc.Size(), true
	m.sha = hex.EncodeToString(h.Sum(nil))
	m.srcOK = true
	if m.received.IsZero() {
		m.received = aws.ToTime(g.LastModified)
	}
	return m, nil
}

// metaFromHeaders decodes the user metadata the store writes; ok is false
// if the object has none.
func metaFromHeaders(h map[string]string) (meta, bool) {
	sha, ok := h[metaSHA]
	if !ok {
		return meta{}, false
	}
	w, err := strconv.ParseInt(h[metaWire], 10, 64)
	if err != nil {
		return meta{}, false
	}
	src, err := url.QueryUnescape(h[metaSource])
	if err != nil {
		return meta{}, false
	}
	return meta{wire: w, wireOK: true, sha: sha, src: src, srcOK: true}, true
}

// parallel runs fn(0..n-1) with at most k at once and returns the first
// error (the others are canceled).
func parallel(ctx context.Context, k, n int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, k)
	var wg sync.WaitGroup
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(ctx, i); err != nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

func (mb *mailbox) item(e *entry) sdk.Item {
	m := mb.meta[metaKey{e.name, e.size}]
	it := sdk.Item{UID: e.uid, Size: e.size, Tag: e.tag, Received: e.mod}
	if m != nil {
		it.WireSize, it.SourceID = m.wire, m.src
		if !m.received.IsZero() {
			it.Received = m.received
		}
	}
	return it
}

// List implements sdk.Store: it lists the tags asked for (one listing per
// 1000 objects of each, plus one of the journals) and yields the items in
// order: tag, then time, then name.
func (s *Store) List(ctx context.Context, mailbox string, opts sdk.ListOptions) iter.Seq2[sdk.Item, error] {
	return func(yield func(sdk.Item, error) bool) {
		items, err := s.list(ctx, mailbox, opts.Tags)
		if err != nil {
			yield(sdk.Item{}, err)
			return
		}
		for i, it := range items {
			if opts.Limit > 0 && i >= opts.Limit {
				return
			}
			if !yield(it, nil) {
				return
			}
		}
	}
}

func (s *Store) list(ctx context.Context, mailbox string, tags []sdk.Tag) ([]sdk.Item, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, t := range tags {
		if err := checkTag(t); err != nil {
			return nil, err
		}
	}
	if len(tags) == 0 {
		tags = sdk.Tags
	}
	mb, c, cfg, lay, err := s.mailbox(mailbox)
	if err != nil {
		return nil, err
	}
	if err := mb.refresh(ctx, c, cfg, lay, tags); err != nil {
		return nil, err
	}
	mb.mu.Lock()
	es := mb.entriesLocked(tags)
	mb.mu.Unlock()
	if err := mb.fill(ctx, c, cfg, lay, es, false); err != nil {
		return nil, err
	}
	mb.mu.Lock()
	defer mb.mu.Unlock()
	items := make([]sdk.Item, len(es))
	for i, e := range es {
		items[i] = mb.item(e)
	}
	return items, nil
}

// Stat implements sdk.Store (one listing of every tag).
func (s *Store) Stat(ctx context.Context, mailbox string) (map[sdk.Tag]sdk.TagStat, error) {
	items, err := s.list(ctx, mailbox, nil)
	if err != nil {
		return nil, err
	}
	st := make(map[sdk.Tag]sdk.TagStat)
	for _, it := range items {
		ts := st[it.Tag]
		ts.Count++
		ts.Size += it.Size
		st[it.Tag] = ts
	}
	return st, nil
}

// nameOf returns the object name of a UID, listing every tag once if the
// UID is a derived one this process has not seen.
func (mb *mailbox) nameOf(ctx context.Context, c *s3.Client, cfg Config, lay layout, uid string) (string, bool, error) {
	if !sdk.ValidUID(uid) {
		return "", false, nil
	}
	if uid[0] != '~' {
		return uid, true, nil
	}
	mb.mu.Lock()
	name, ok := mb.uidName[uid]
	mb.mu.Unlock()
	if ok {
		return name, true, nil
	}
	if err := mb.refresh(ctx, c, cfg, lay, sdk.Tags); err != nil {
		return "", false, err
	}
	mb.mu.Lock()
	mb.entriesLocked(sdk.Tags) // fills uidName
	name, ok = mb.uidName[uid]
	mb.mu.Unlock()
	return name, ok, nil
}

// locate returns the tags an object is under, by precedence: from the
// view, or, if the view has none, by asking for the key under every tag.
func (mb *mailbox) locate(ctx context.Context, c *s3.Client, cfg Config, lay layout, name string, forceProbe bool) ([]sdk.Tag, error) {
	if !forceProbe {
		mb.mu.Lock()
		ts := mb.physTagsLocked(name)
		mb.mu.Unlock()
		if len(ts) > 0 {
			return ts, nil
		}
	}
	found := make([]*obj, len(precedence))
	err := parallel(ctx, len(precedence), len(precedence), func(ctx context.Context, i int) error {
		key := lay.key(mb.name, precedence[i], name)
		h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(key)})
		if err != nil {
			if isNotFound(err) {
				return nil
			}
			return s3Error(ctx, "head", key, err)
		}
		found[i] = &obj{size: aws.ToInt64(h.ContentLength), mod: aws.ToTime(h.LastModified)}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var ts []sdk.Tag
	mb.mu.Lock()
	defer mb.mu.Unlock()
	for i, o := range found {
		t := precedence[i]
		if o == nil {
			if _, ok := mb.phys[t][name]; ok {
				mb.removeLocked(t, name)
			}
			continue
		}
		ts = append(ts, t)
		if _, ok := mb.phys[t][name]; !ok {
			mb.addLocked(t, name, o.size, o.mod)
		}
	}
	return ts, nil
}

// Fetch implements sdk.Store: one GET, streamed.
func (s *Store) Fetch(ctx context.Context, mailbox, uid string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	mb, c, cfg, lay, err := s.mailbox(mailbox)
	if err != nil {
		return nil, err
	}
	return mb.open(ctx, c, cfg, lay, uid)
}

// open GETs the object of uid: from where the view has it, else where it
// is found now.
func (mb *mailbox) open(ctx context.Context, c *s3.Client, cfg Config, lay layout, uid string) (io.ReadCloser, error) {
	name, ok, err := mb.nameOf(ctx, c, cfg, lay, uid)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: cloud: no message %q in mailbox %q", sdk.ErrNotFound, uid, mb.name)
	}
	for probe := range 2 {
		ts, err := mb.locate(ctx, c, cfg, lay, name, probe == 1)
		if err != nil {
			return nil, err
		}
		for _, t := range ts {
			key := lay.key(mb.name, t, name)
			g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(key)})
			if err == nil {
				return &bodyReader{ctx: ctx, key: key, rc: g.Body}, nil
			}
			if !isNotFound(err) {
				return nil, s3Error(ctx, "get", key, err)
			}
		}
	}
	return nil, fmt.Errorf("%w: cloud: no message %q in mailbox %q", sdk.ErrNotFound, uid, mb.name)
}

// bodyReader maps the read errors of an object body to the store's.
type bodyReader struct {
	ctx context.Context
	key string
	rc  io.ReadCloser
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF {
		err = s3Error(b.ctx, "read", b.key, err)
	}
	return n, err
}

func (b *bodyReader) Close() error { return b.rc.Close() }

// SetTag implements sdk.Store with a journaled copy-then-delete per object
// (see journal.go).
func (s *Store) SetTag(ctx context.Context, mailbox string, uids []string, tag sdk.Tag) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkTag(tag); err != nil {
		return nil, err
	}
	mb, c, cfg, lay, err := s.mailbox(mailbox)
	if err != nil {
		return nil, err
	}
	return mb.setTag(ctx, c, cfg, lay, uids, tag)
}

// Delete implements sdk.Store: every copy of each object is deleted, the
// one that decides its tag last, so that a crash in between leaves the
// item as it was.
func (s *Store) Delete(ctx context.Context, mailbox string, uids []string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	mb, c, cfg, lay, err := s.mailbox(mailbox)
	if err != nil {
		return nil, err
	}
	targets, notFound, err := mb.resolve(ctx, c, cfg, lay, uids)
	if err != nil {
		return nil, err
	}
	// Round 1: the copies that do not decide the tag; round 2: the rest.
	for round := range 2 {
		var keys []string
		var done []func()
		for _, tg := range targets {
			for i, t := range tg.copies {
				if (i == 0) != (round == 1) {
					continue
				}
				keys = append(keys, lay.key(mb.name, t, tg.name))
				done = append(done, func() { mb.removeLocked(t, tg.name) })
			}
		}
		if err := deleteKeys(ctx, c, cfg.Bucket, keys); err != nil {
			return nil, err
		}
		mb.mu.Lock()
		for _, f := range done {
			f()
		}
		mb.mu.Unlock()
	}
	return notFound, nil
}

// target is an item a batch operation changes.
type target struct {
	uid, name string
	copies    []sdk.Tag
}

// resolve finds where each UID's object is; those found nowhere are
// returned in notFound.
func (mb *mailbox) resolve(ctx context.Context, c *s3.Client, cfg Config, lay layout, uids []string) ([]target, []string, error) {
	var notFound []string
	targets := make([]target, 0, len(uids))
	seen := make(map[string]bool)
	for _, uid := range uids {
		if seen[uid] {
			continue
		}
		seen[uid] = true
		name, ok, err := mb.nameOf(ctx, c, cfg, lay, uid)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			notFound = append(notFound, uid)
			continue
		}
		targets = append(targets, target{uid: uid, name: name})
	}
	// The view knows most; the others are looked for under every tag.
	var probe []int
	mb.mu.Lock()
	for i := range targets {
		targets[i].copies = mb.physTagsLocked(targets[i].name)
		if len(targets[i].copies) == 0 {
			probe = append(probe, i)
		}
	}
	mb.mu.Unlock()
	err := parallel(ctx, changeParallel/len(precedence)+1, len(probe), func(ctx context.Context, j int) error {
		tg := &targets[probe[j]]
		ts, err := mb.locate(ctx, c, cfg, lay, tg.name, true)
		tg.copies = ts
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	kept := targets[:0]
	for _, tg := range targets {
		if len(tg.copies) == 0 {
			notFound = append(notFound, tg.uid)
			continue
		}
		kept = append(kept, tg)
	}
	return kept, notFound, nil
}

// deleteKeys deletes keys with DeleteObjects, 1000 a request. A key that is
// already gone is not an error.
func deleteKeys(ctx context.Context, c *s3.Client, bucket string, keys []string) error {
	for batch := range slices.Chunk(keys, 1000) {
		ids := make([]types.ObjectIdentifier, len(batch))
		for i, k := range batch {
			ids[i] = types.ObjectIdentifier{Key: aws.String(k)}
		}
		out, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(bucket),
			Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
		if err != nil {
			return s3Error(ctx, "delete", fmt.Sprintf("%d objects", len(batch)), err)
		}
		for _, e := range out.Errors {
			if aws.ToString(e.Code) == "NoSuchKey" {
				continue
			}
			return fmt.Errorf("%w: cloud: delete %s: %s", sdk.ErrUnavailable, aws.ToString(e.Key), aws.ToString(e.Code))
		}
	}
	return nil
}
