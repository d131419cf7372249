package fetch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/izyware/izypop3/core/pop3/pop3client"
	"github.com/izyware/izypop3/sdk"
)

// job is one Run.
type job struct {
	o      Options
	log    *slog.Logger
	prefix string // SourceID prefix of the account

	// held maps the UIDLs of the account that the store holds to their
	// item; tags maps every UID of the mailbox to its tag (for the dup
	// rule). Both are loaded once per run and kept up to date by it.
	held map[string]heldItem
	tags map[string]sdk.Tag

	reported map[string]bool // UIDLs already reported (not reported twice as Held or TooBig)
	failed   map[string]bool // UIDLs that failed in this run: not tried again by its later sessions
	received Progress
	sum      Summary
}

type heldItem struct {
	uid      string
	tag      sdk.Tag
	received time.Time
}

// Progress counts what a run has received so far (before the durability
// barrier: a message counted here may still fail).
type Progress struct {
	Messages int
	Bytes    int64
}

// Run fetches what opts asks for and returns what happened. The error is
// an *Error (see KindOf) or the context's error; a run that finished but
// failed some messages returns the summary and an *Error of KindPartial.
func Run(ctx context.Context, opts Options) (Summary, error) {
	o := opts.withDefaults()
	if o.Store == nil {
		return Summary{}, errors.New("fetch: no store")
	}
	if o.Mailbox == "" {
		return Summary{}, errors.New("fetch: no mailbox")
	}
	prefix, err := o.Account.SourceIDPrefix()
	if err != nil {
		return Summary{}, err
	}
	j := &job{o: o, prefix: prefix, reported: map[string]bool{}, failed: map[string]bool{},
		log: o.Logger.With("server", o.Account.Addr, "user", o.Account.User, "mailbox", o.Mailbox)}
	start := time.Now()
	if err := j.loadHeld(ctx); err != nil {
		return Summary{}, err
	}
	for n := 1; ; n++ {
		j.sum.Sessions = n
		fetched, err := j.session(ctx, n)
		if err != nil {
			j.sum.Elapsed = time.Since(start)
			return j.sum, err
		}
		if o.Mode != ModeSync || o.DryRun || fetched == 0 || j.stopRequested() || j.limitReached() {
			break
		}
		if n >= o.MaxSessions {
			j.log.Warn("stopping after the maximum number of sessions; the next run goes on", "sessions", n)
			break
		}
		j.log.Debug("the session brought new messages: one more session, in case the server shows a window of the maildrop")
	}
	j.sum.Elapsed = time.Since(start)
	if j.sum.Failed > 0 {
		return j.sum, errorf(KindPartial, "%d messages failed (they are fetched again by the next run)", j.sum.Failed)
	}
	return j.sum, nil
}

func (j *job) stopRequested() bool {
	if j.o.Stop != nil {
		select {
		case <-j.o.Stop:
			return true
		default:
		}
	}
	return false
}

func (j *job) limitReached() bool {
	return j.o.Limit > 0 && j.sum.Fetched() >= j.o.Limit
}

func (j *job) event(e Event) {
	if e.UIDL != "" {
		j.reported[e.UIDL] = true
		if e.Outcome == Failed {
			j.failed[e.UIDL] = true
		}
	}
	j.sum.add(e)
	if j.o.OnMessage != nil {
		j.o.OnMessage(e)
	}
}

func (j *job) storeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, j.o.StoreTimeout)
}

// loadHeld lists the mailbox: what the account's messages are held as,
// and every item's tag.
func (j *job) loadHeld(ctx context.Context) error {
	j.held = map[string]heldItem{}
	j.tags = map[string]sdk.Tag{}
	lctx, cancel := j.storeCtx(ctx)
	defer cancel()
	for it, err := range j.o.Store.List(lctx, j.o.Mailbox, sdk.ListOptions{}) {
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return &Error{Kind: KindStore, Err: fmt.Errorf("store: list %s: %w", j.o.Mailbox, err)}
		}
		j.tags[it.UID] = it.Tag
		uidl, ok := strings.CutPrefix(it.SourceID, j.prefix)
		if !ok || uidl == "" {
			continue
		}
		if old, dup := j.held[uidl]; dup && old.tag != sdk.TagStaged {
			continue // keep a finished item over a staged one
		}
		j.held[uidl] = heldItem{uid: it.UID, tag: it.Tag, received: it.Received}
	}
	return nil
}

// isHeld reports whether the store holds the message for good (any item
// but a staged one).
func (j *job) isHeld(uidl string) (heldItem, bool) {
	h, ok := j.held[uidl]
	return h, ok && h.tag != sdk.TagStaged
}

// remote is one message of a session's maildrop.
type remote struct {
	num  int
	size int64 // as LIST states it
	uidl string
}

// session runs one POP3 session and returns how many messages it stored
// anew.
func (j *job) session(ctx context.Context, n int) (int, error) {
	s, err := j.connect(ctx)
	if err != nil {
		return 0, err
	}
	defer s.c.Close()
	defer context.AfterFunc(ctx, func() { s.c.Close() })()

	msgs, err := s.maildrop(true)
	if err != nil {
		return 0, err
	}
	byNum := make(map[int]remote, len(msgs))
	for _, m := range msgs {
		byNum[m.num] = m
	}

	// Choose.
	var fetch []remote
	var fetchBytes int64
	budget := -1
	if j.o.Limit > 0 {
		budget = j.o.Limit - j.sum.Fetched()
	}
	choose := func(m remote) {
		if _, ok := j.isHeld(m.uidl); ok {
			j.reportOnce(m, Event{Outcome: Held, Num: m.num, UIDL: m.uidl, Size: m.size, UID: j.held[m.uidl].uid})
			return
		}
		if j.failed[m.uidl] {
			return // failed earlier in this run: the next run tries again
		}
		if j.o.MaxSize > 0 && m.size > j.o.MaxSize {
			j.reportOnce(m, Event{Outcome: TooBig, Num: m.num, UIDL: m.uidl, Size: m.size})
			return
		}
		if budget >= 0 && len(fetch) >= budget {
			return
		}
		fetch = append(fetch, m)
		fetchBytes += m.size
	}
	seen := map[string]bool{}
	switch j.o.Mode {
	case ModeRetr:
		for _, num := range j.o.Numbers {
			m, ok := byNum[num]
			if !ok {
				j.event(Event{Outcome: Failed, Num: num, Err: fmt.Errorf("no message %d on the server (%d messages)", num, len(msgs))})
				continue
			}
			if seen[m.uidl] {
				continue
			}
			seen[m.uidl] = true
			choose(m)
		}
	default:
		for _, m := range msgs {
			if seen[m.uidl] {
				j.log.Warn("the server lists one UIDL twice; fetching the first only", "uidl", m.uidl, "num", m.num)
				continue
			}
			seen[m.uidl] = true
			choose(m)
		}
	}
	if j.o.OnPlan != nil {
		j.o.OnPlan(Plan{Session: n, Messages: len(msgs), Fetch: len(fetch), FetchBytes: fetchBytes})
	}
	j.log.Info("session", "session", n, "messages", len(msgs), "to_fetch", len(fetch), "bytes", fetchBytes,
		"pipelining", s.window > 1, "tls", s.c.TLS())

	// Deletable before this session's fetching: held from before.
	var dele []remote
	if j.o.Delete || j.o.DeleteAfter > 0 {
		for _, m := range msgs {
			if h, ok := j.isHeld(m.uidl); ok && seen[m.uidl] && j.deletable(h) {
				dele = append(dele, m)
			}
		}
	}

	if j.o.DryRun {
		for _, m := range fetch {
			j.event(Event{Outcome: WouldFetch, Num: m.num, UIDL: m.uidl, Size: m.size})
		}
		if j.o.Delete {
			// Everything fetched would be deleted too.
			dele = append(dele, fetch...)
		}
		for _, m := range dele {
			j.event(Event{Outcome: WouldDelete, Num: m.num, UIDL: m.uidl, Size: m.size})
		}
		return 0, s.quit()
	}

	w := newWorker(ctx, j, s)
	fetchErr := w.fetch(fetch)
	if w.storeErr != nil {
		// A failing store: delete nothing on the server, end the session
		// with QUIT (nothing is marked) if the connection still works.
		s.quit()
		if ctx.Err() != nil {
			return w.stored, ctx.Err()
		}
		return w.stored, &Error{Kind: KindStore, Err: fmt.Errorf("store: %w", w.storeErr)}
	}
	if fetchErr != nil {
		if ctx.Err() != nil {
			return w.stored, ctx.Err()
		}
		return w.stored, s.netError("retrieving messages", fetchErr)
	}
	if j.o.Delete {
		dele = append(dele, w.done...)
	}
	if err := j.deleteAndQuit(ctx, s, dele); err != nil {
		return w.stored, err
	}
	return w.stored, nil
}

// reportOnce reports a message that is not fetched once per run (a later
// session of the same run sees it again).
func (j *job) reportOnce(m remote, e Event) {
	if j.reported[m.uidl] {
		return
	}
	j.reported[m.uidl] = true
	j.event(e)
}

// deletable reports whether a message held from before this session may be
// deleted on the server.
func (j *job) deletable(h heldItem) bool {
	if j.o.Delete {
		return true
	}
	return j.o.DeleteAfter > 0 && !h.received.IsZero() && time.Since(h.received) > j.o.DeleteAfter
}

// deleteAndQuit marks dele with DELE and ends the session with QUIT, which
// applies the marks.
func (j *job) deleteAndQuit(ctx context.Context, s *session, dele []remote) error {
	var marked []remote
	if len(dele) > 0 && ctx.Err() == nil {
		nums := make([]int, len(dele))
		for i, m := range dele {
			nums[i] = m.num
		}
		errs, err := s.c.DeleEach(nums, s.window)
		if err != nil {
			return s.netError("DELE", err)
		}
		for i, e := range errs {
			if e != nil {
				j.log.Warn("the server refused DELE; the message stays on the server", "num", dele[i].num, "uidl", dele[i].uidl, "reply", e)
				continue
			}
			marked = append(marked, dele[i])
		}
	}
	if err := s.quit(); err != nil {
		if len(marked) > 0 {
			j.log.Warn("QUIT failed: the server deleted nothing", "marked", len(marked), "error", err)
		}
		return err
	}
	for _, m := range marked {
		j.event(Event{Outcome: Deleted, Num: m.num, UIDL: m.uidl, Size: m.size, UID: j.held[m.uidl].uid})
	}
	return nil
}

// Maildrop is what Inspect reports.
type Maildrop struct {
	Count    int   // STAT
	Size     int64 // STAT
	Messages []RemoteMessage
	// HeldKnown is set when Options.Store was given: RemoteMessage.Held
	// and Tag are meaningful.
	HeldKnown bool
}

// RemoteMessage is one message of the remote maildrop.
type RemoteMessage struct {
	Num  int
	Size int64  // as LIST states it
	UIDL string // "" if the server has no UIDL
	Held bool   // the store holds it (not just staged)
	Tag  sdk.Tag
	UID  string
}

// Inspect connects, reads STAT and (with list) UIDL and LIST, and QUITs.
// With Options.Store it tells which messages the store holds.
func Inspect(ctx context.Context, opts Options, list bool) (Maildrop, error) {
	o := opts.withDefaults()
	prefix, err := o.Account.SourceIDPrefix()
	if err != nil {
		return Maildrop{}, err
	}
	j := &job{o: o, prefix: prefix, reported: map[string]bool{}, failed: map[string]bool{},
		log: o.Logger.With("server", o.Account.Addr, "user", o.Account.User)}
	var md Maildrop
	if o.Store != nil && list {
		if o.Mailbox == "" {
			return Maildrop{}, errors.New("fetch: no mailbox")
		}
		if err := j.loadHeld(ctx); err != nil {
			return Maildrop{}, err
		}
		md.HeldKnown = true
	}
	s, err := j.connect(ctx)
	if err != nil {
		return Maildrop{}, err
	}
	defer s.c.Close()
	defer context.AfterFunc(ctx, func() { s.c.Close() })()
	md.Count, md.Size, err = s.c.Stat()
	if err != nil {
		return Maildrop{}, s.netError("STAT", err)
	}
	if list {
		msgs, err := s.maildrop(false)
		if err != nil {
			return Maildrop{}, err
		}
		for _, m := range msgs {
			rm := RemoteMessage{Num: m.num, Size: m.size, UIDL: m.uidl}
			if h, ok := j.held[m.uidl]; ok && m.uidl != "" {
				rm.Held, rm.Tag, rm.UID = h.tag != sdk.TagStaged, h.tag, h.uid
			}
			md.Messages = append(md.Messages, rm)
		}
	}
	return md, s.quit()
}

// parseErr reports whether err is a negative reply (not fatal).
func isReply(err error) bool {
	var pe interface{ Line() string }
	return errors.As(err, &pe)
}

var _ = pop3client.MaxWindow
