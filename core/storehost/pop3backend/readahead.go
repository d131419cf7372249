package pop3backend

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/izyware/izypop3/sdk/pluginhost"
)

const (
	// readAheadItems is the most messages one read-ahead stream asks for:
	// the following ones start another. It bounds the request (70-octet
	// UIDs: about 18 KiB), not memory: the stream's flow-control window
	// bounds what is read ahead.
	readAheadItems = 256

	// readAheadIdle closes a read-ahead stream that served nothing for
	// this long, so that a session that stops retrieving does not keep up to
	// a flow-control window (1 MiB) of messages buffered in the host, nor
	// an open item in the plugin.
	readAheadIdle = 2 * time.Second
)

// batchFunc opens a FetchBatch stream over uids of the session's mailbox.
type batchFunc func(ctx context.Context, uids []string) (pluginhost.BatchReader, error)

// readAhead serves a session's RETRs of consecutive messages from
// FetchBatch streams: when message i is opened right after message i-1, one
// stream opens for the messages from i on, and the next RETRs are read from
// it while the plugin already sends the ones after. Any other message is
// not its business (open returns nil: the caller uses Fetch).
//
// It relies on the server's contract for Open: the reader of a RETR is read
// to its end or the session ends, and TOP does not come here.
type readAhead struct {
	fetch batchFunc
	uids  []string      // the snapshot, in message-number order
	idle  time.Duration // an unused stream is closed after this long

	mu   sync.Mutex // prev, s: open and the idle timer
	prev int        // index of the message opened last; -1: none
	s    *raStream  // nil: none open
}

// raStream is an open FetchBatch stream over uids[next:end].
type raStream struct {
	br     pluginhost.BatchReader
	cancel context.CancelFunc // ends the stream
	next   int                // index of the item Next yields next
	end    int
	broken bool        // an item failed part way or was not read to its end
	busy   bool        // an item's reader is open
	timer  *time.Timer // closes the stream after idle unused; nil until an item is closed

	// watched is the context of the open calls the stream served last;
	// its end cancels the stream while an item is waited for or read
	// (inUse). One watch serves the calls that share a context, as a
	// pop3server session's RETRs do: a context.AfterFunc per item cost
	// 2 allocations and ~0.6 µs of CPU per RETR (BenchmarkRetrPipelined20KB,
	// client and store included, medians of 10: 56.4 → 55.8 µs).
	watched context.Context
	unwatch func() bool
	inUse   atomic.Bool
	// watchGen counts the watches: a watch whose callback already runs
	// when the next call brings a new context cancels nothing of it.
	watchGen atomic.Uint64
}

// watch makes the end of ctx cancel s while s.inUse.
func (s *raStream) watch(ctx context.Context) {
	if ctx == s.watched {
		return
	}
	if s.unwatch != nil {
		s.unwatch()
	}
	s.watched = ctx
	gen := s.watchGen.Add(1)
	s.unwatch = context.AfterFunc(ctx, func() {
		// inUse first: it is set after watchGen moves on, so a call of
		// the next context that set it is seen by the generation too.
		if s.inUse.Load() && s.watchGen.Load() == gen {
			s.cancel()
		}
	})
}

func newReadAhead(fetch batchFunc, uids []string, idle time.Duration) *readAhead {
	return &readAhead{fetch: fetch, uids: uids, idle: idle, prev: -1}
}

// open returns message i from the read-ahead, or nil when the caller must
// Fetch it: i does not follow the message opened before, the stream cannot
// be opened, or it has no good item i (an item error: the caller's Fetch
// tells the client; the stream goes on with i+1).
func (ra *readAhead) open(ctx context.Context, i int) io.ReadCloser {
	ra.mu.Lock()
	defer ra.mu.Unlock()
	seq := ra.prev >= 0 && i == ra.prev+1
	ra.prev = i
	if s := ra.s; s != nil && (!seq || s.next != i || s.next >= s.end || s.broken) {
		ra.stopLocked()
	}
	if !seq || i >= len(ra.uids) {
		return nil
	}
	if ra.s == nil && !ra.startLocked(ctx, i) {
		return nil
	}
	s := ra.s
	// The call's context bounds the wait for the item (a stuck plugin still
	// times out), and then its reading, until the reader is closed. inUse
	// is set before ctx is checked: a context ending after the check finds
	// it set.
	s.watch(ctx)
	s.inUse.Store(true)
	if ctx.Err() != nil {
		ra.stopLocked()
		return nil
	}
	uid, r, err := s.br.Next()
	s.next++
	switch {
	case err == nil && uid == ra.uids[i]:
		s.busy = true
		if s.timer != nil {
			s.timer.Stop()
		}
		return &raItem{r: r, s: s, ra: ra}
	case err != nil && uid == ra.uids[i]:
		s.inUse.Store(false)
	default:
		// The stream ended or broke, or is out of step: drop it.
		ra.stopLocked()
	}
	return nil
}

// startLocked opens a stream for the snapshot from index i.
func (ra *readAhead) startLocked(ctx context.Context, i int) bool {
	end := min(i+readAheadItems, len(ra.uids))
	// The stream outlives this call; ctx bounds only its opening, which
	// waits for the first item.
	sctx, cancel := context.WithCancel(context.Background())
	detach := context.AfterFunc(ctx, cancel)
	br, err := ra.fetch(sctx, ra.uids[i:end])
	live := detach()
	if err != nil {
		cancel()
		return false
	}
	if !live {
		br.Close()
		cancel()
		return false
	}
	ra.s = &raStream{br: br, cancel: cancel, next: i, end: end}
	return true
}

// stopLocked ends the open stream, if any.
func (ra *readAhead) stopLocked() {
	if s := ra.s; s != nil {
		if s.timer != nil {
			s.timer.Stop()
		}
		if s.unwatch != nil {
			s.unwatch()
		}
		s.br.Close()
		s.cancel()
		ra.s = nil
	}
}

// closed is called when the reader of an item of s is closed: a stream
// still in use starts its idle countdown.
func (ra *readAhead) closed(s *raStream, whole bool) {
	ra.mu.Lock()
	defer ra.mu.Unlock()
	if !whole {
		s.broken = true
	}
	if ra.s != s {
		return
	}
	s.busy = false
	if s.timer == nil {
		s.timer = time.AfterFunc(ra.idle, func() { ra.idleStop(s) })
	} else {
		s.timer.Reset(ra.idle)
	}
}

// idleStop closes s if it is still open and unused.
func (ra *readAhead) idleStop(s *raStream) {
	ra.mu.Lock()
	defer ra.mu.Unlock()
	if ra.s == s && !s.busy {
		ra.stopLocked()
	}
}

// close ends the read-ahead at the end of the session.
func (ra *readAhead) close() {
	ra.mu.Lock()
	ra.stopLocked()
	ra.prev = -1
	ra.mu.Unlock()
}

// raItem is one message read from a read-ahead stream.
type raItem struct {
	r      io.Reader
	s      *raStream
	ra     *readAhead
	eof    bool
	closed bool
}

func (it *raItem) Read(p []byte) (int, error) {
	n, err := it.r.Read(p)
	if err == io.EOF {
		it.eof = true
	}
	return n, err
}

// Close ends the item's watch by the call's context; an item not read to
// its end (a read error, a failed send) leaves a stream that is not used
// again.
func (it *raItem) Close() error {
	if !it.closed {
		it.closed = true
		it.s.inUse.Store(false)
		it.ra.closed(it.s, it.eof)
	}
	return nil
}
