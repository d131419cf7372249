package cloudstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/izyware/izypop3/sdk"
)

// readAheadBytes bounds the octets one batch holds read ahead: an item is
// buffered only if it is at most readAheadBytes/readahead octets (and at
// most maxBufferedItem); larger items are streamed when their turn comes.
const (
	readAheadBytes  = 32 << 20
	maxBufferedItem = 4 << 20
)

var errBatchClosed = errors.New("cloud: use of a closed fetch batch")

// FetchBatch implements sdk.BatchFetcher, which the sdk's Serve uses to
// answer the host's read-ahead for a run of sequential RETRs: up to
// mimestore.readahead GETs are in flight at once, each item read into
// memory (bounded: see readAheadBytes) and handed out in order. With
// readahead 1 the items are read one after the other, as a store without a
// batch path of its own is served.
func (s *Store) FetchBatch(ctx context.Context, mailbox string, uids []string) (sdk.BatchReader, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	mb, c, cfg, lay, err := s.mailbox(mailbox)
	if err != nil {
		return nil, err
	}
	bctx, cancel := context.WithCancel(ctx)
	b := &batch{ctx: bctx, cancel: cancel, mb: mb, c: c, cfg: cfg, lay: lay, uids: uids,
		slots: make([]*slot, len(uids)), sem: make(chan struct{}, cfg.ReadAhead),
		maxItem: min(maxBufferedItem, readAheadBytes/int64(cfg.ReadAhead))}
	for i := range b.slots {
		b.slots[i] = &slot{done: make(chan struct{})}
	}
	if cfg.ReadAhead > 1 {
		b.wg.Add(1)
		go b.run()
	}
	return b, nil
}

type batch struct {
	ctx     context.Context
	cancel  context.CancelFunc
	mb      *mailbox
	c       *s3.Client
	cfg     Config
	lay     layout
	uids    []string
	slots   []*slot
	sem     chan struct{} // one token per item read ahead and not yet passed
	maxItem int64
	wg      sync.WaitGroup
	closed  atomic.Bool

	next int           // index of the item Next returns next
	cur  io.ReadCloser // the streamed item Next returned last
	prev *slot
}

// slot is one item of the batch.
type slot struct {
	done   chan struct{} // closed when data/err are set, or stream is decided
	data   []byte
	err    error
	stream bool // not read ahead: Next opens it
	permit bool // holds a sem token
}

// sizeOf returns the size of uid's object from the view.
func (b *batch) sizeOf(uid string) (int64, bool) {
	mb := b.mb
	mb.mu.Lock()
	defer mb.mu.Unlock()
	name := uid
	if uid != "" && uid[0] == '~' {
		n, ok := mb.uidName[uid]
		if !ok {
			return 0, false
		}
		name = n
	}
	for _, t := range precedence {
		if o, ok := mb.phys[t][name]; ok {
			return o.size, true
		}
	}
	return 0, false
}

// run starts the GETs in order, at most cap(sem) items ahead of the
// reader.
func (b *batch) run() {
	defer b.wg.Done()
	for i, uid := range b.uids {
		sl := b.slots[i]
		size, ok := b.sizeOf(uid)
		if !ok || size > b.maxItem {
			sl.stream = true
			close(sl.done)
			continue
		}
		select {
		case b.sem <- struct{}{}:
		case <-b.ctx.Done():
			return
		}
		sl.permit = true
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			defer close(sl.done)
			rc, err := b.mb.open(b.ctx, b.c, b.cfg, b.lay, uid)
			if err != nil {
				sl.err = err
				return
			}
			defer rc.Close()
			buf := bytes.NewBuffer(make([]byte, 0, size+bytes.MinRead))
			if _, err := buf.ReadFrom(io.LimitReader(rc, b.maxItem+1)); err != nil {
				sl.err = err
				return
			}
			if int64(buf.Len()) > b.maxItem {
				// Grew since it was listed: stream it instead.
				sl.stream = true
				return
			}
			sl.data = buf.Bytes()
		}()
	}
}

// Next implements sdk.BatchReader.
func (b *batch) Next() (string, io.Reader, error) {
	if b.closed.Load() {
		return "", nil, errBatchClosed
	}
	b.release()
	if b.ctx.Err() != nil { // canceled: even an item already read ahead is not handed out
		return "", nil, b.ctxErr()
	}
	if b.next >= len(b.uids) {
		return "", nil, io.EOF
	}
	i := b.next
	b.next++
	uid, sl := b.uids[i], b.slots[i]
	if b.cfg.ReadAhead > 1 {
		select {
		case <-sl.done:
		case <-b.ctx.Done():
			return "", nil, b.ctxErr()
		}
	} else {
		sl.stream = true
	}
	b.prev = sl
	if sl.stream {
		rc, err := b.mb.open(b.ctx, b.c, b.cfg, b.lay, uid)
		if err != nil {
			if b.ctx.Err() != nil {
				return "", nil, b.ctxErr()
			}
			return uid, nil, err
		}
		b.cur = rc
		return uid, rc, nil
	}
	if sl.err != nil {
		if b.ctx.Err() != nil {
			return "", nil, b.ctxErr()
		}
		return uid, nil, sl.err
	}
	return uid, bytes.NewReader(sl.data), nil
}

func (b *batch) ctxErr() error {
	if b.closed.Load() {
		return errBatchClosed
	}
	return fmt.Errorf("cloud: fetch batch: %w", context.Cause(b.ctx))
}

// release lets go of the item Next returned last.
func (b *batch) release() {
	if b.cur != nil {
		b.cur.Close()
		b.cur = nil
	}
	if sl := b.prev; sl != nil {
		sl.data = nil
		if sl.permit {
			sl.permit = false
			<-b.sem
		}
		b.prev = nil
	}
}

// Close implements sdk.BatchReader: the GETs in flight are canceled.
func (b *batch) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	b.cancel()
	return nil
}
