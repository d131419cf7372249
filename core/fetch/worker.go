package fetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"

	"github.com/izyware/izypop3/sdk"
)

// Buffering between the network and the store: the session reads message
// data into chunks while the store is busy with the message before (its
// Put, a barrier), so the two overlap. At most inboundQueue messages wait
// with up to chunkQueue chunks each, a few MiB in all; no message is ever
// held whole.
const (
	chunkSize    = 64 << 10
	chunkQueue   = 16
	inboundQueue = 2
)

// sendAhead is how many messages are sent to a store that takes items
// ahead of their answers (sdk.BatchSender) before the oldest answer is
// read; the bytes in flight are bounded by the stream's flow control.
// Measured (bench/fetchers, 2000 × ~20 KB from Dovecot into localfs on a
// journaled ext4): one message ahead left the client and the plugin taking
// turns, 0.76–0.79 s and 0.34–0.36 ms of CPU per message; 8 ahead 0.52–0.56 s,
// 32 ahead 0.44–0.51 s and 0.23–0.27 ms; 64 and 128 no better.
const sendAhead = 32

var chunkPool = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

// errStoreFailed stops the retrieval when the store failed.
var errStoreFailed = errors.New("fetch: the store failed")

// errStopped stops the retrieval on Options.Stop.
var errStopped = errors.New("fetch: stopped")

// chunk is a piece of message data in a pooled buffer.
type chunk struct {
	buf *[]byte
	n   int
}

// inbound is a message on its way from the network to the store.
type inbound struct {
	m      remote
	rerr   error      // the server's -ERR reply: no data
	chunks chan chunk // closed after the last chunk
	err    error      // set before chunks is closed: the data is incomplete
}

// pump reads body into chunks until its end, or until the store failed.
func (in *inbound) pump(body io.Reader, dead <-chan struct{}) error {
	for {
		bp := chunkPool.Get().(*[]byte)
		b := *bp
		n := 0
		var err error
		for n < len(b) && err == nil {
			var k int
			k, err = body.Read(b[n:])
			n += k
		}
		if n > 0 {
			select {
			case in.chunks <- chunk{bp, n}:
			case <-dead:
				chunkPool.Put(bp)
				in.finish(errStoreFailed)
				return errStoreFailed
			}
		} else {
			chunkPool.Put(bp)
		}
		if err == io.EOF {
			in.finish(nil)
			return nil
		}
		if err != nil {
			in.finish(err)
			return err
		}
	}
}

func (in *inbound) finish(err error) {
	in.err = err
	close(in.chunks)
}

// discard drops what is left of in.
func (in *inbound) discard() {
	if in.chunks == nil {
		return
	}
	for c := range in.chunks {
		chunkPool.Put(c.buf)
	}
}

// staged is a message stored and verified, waiting for the barrier.
type staged struct {
	m      remote
	uid    string
	cur    sdk.Tag // its tag now
	target sdk.Tag // its tag after the barrier
	size   int64
}

// worker stores the messages of one session.
type worker struct {
	ctx context.Context
	j   *job
	s   *session

	in   chan *inbound
	dead chan struct{} // closed when the store failed

	storeErr error
	pw       sdk.BatchWriter // the session's PutBatch, once opened
	sending  []*putting      // sent to the store, their results not read yet (oldest first)
	batch    []staged
	batchLen int64
	pending  map[string]bool // UIDs in batch
	stored   int             // newly stored this session
	done     []remote        // held after this session's barriers (DELE candidates)
}

func newWorker(ctx context.Context, j *job, s *session) *worker {
	return &worker{ctx: ctx, j: j, s: s, in: make(chan *inbound, inboundQueue),
		dead: make(chan struct{}), pending: map[string]bool{}}
}

// fetch retrieves msgs (pipelined) and stores them; it returns the error
// that ended the retrieval early, if any (w.storeErr says whether the store
// failed).
func (w *worker) fetch(msgs []remote) error {
	byNum := make(map[int]remote, len(msgs))
	nums := make([]int, len(msgs))
	for i, m := range msgs {
		byNum[m.num] = m
		nums[i] = m.num
	}
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		w.run()
	}()
	err := w.s.c.RetrEach(nums, w.s.window, func(num int, body io.Reader, rerr error) error {
		if w.j.stopRequested() {
			return errStopped
		}
		in := &inbound{m: byNum[num], rerr: rerr}
		if rerr == nil {
			in.chunks = make(chan chunk, chunkQueue)
		}
		select {
		case w.in <- in:
		case <-w.dead:
			return errStoreFailed
		}
		if rerr != nil {
			return nil
		}
		return in.pump(body, w.dead)
	})
	close(w.in)
	<-finished
	if errors.Is(err, errStopped) {
		w.j.log.Info("stopping: the message in progress is finished, the rest is left for the next run")
		err = nil
	}
	if errors.Is(err, errStoreFailed) {
		err = nil // w.storeErr tells
	}
	return err
}

// run is the store side: Put each message, and the barrier per batch.
func (w *worker) run() {
	for in := range w.in {
		if w.storeErr != nil {
			in.discard()
			continue
		}
		if in.rerr != nil {
			w.drain()
			w.j.event(Event{Outcome: Failed, Num: in.m.num, UIDL: in.m.uidl, Size: in.m.size,
				Err: fmt.Errorf("the server refused RETR: %w", in.rerr)})
			continue
		}
		w.put(in)
		n, size := len(w.batch), w.batchLen
		for _, p := range w.sending {
			n, size = n+1, size+p.r.n // flush finishes them first
		}
		if n >= w.j.o.BatchMessages || size >= w.j.o.BatchBytes {
			w.flush()
		}
	}
	w.drain()
	if w.pw != nil {
		w.pw.Close()
	}
	if w.storeErr == nil {
		w.flush()
	} else {
		w.failBatch(w.storeErr)
	}
}

// failStore records a store failure: the session stops fetching.
func (w *worker) failStore(err error) {
	if w.storeErr == nil {
		w.storeErr = err
		close(w.dead)
	}
}

// putting is a message on its way into the store.
type putting struct {
	in   *inbound
	r    *msgReader
	sent bool // sent through an sdk.BatchSender: the result is still to be read
	res  sdk.PutResult
	err  error
}

// put stores one message. Through a store that takes items before it
// answered the ones before (sdk.BatchSender: a plugin's PutBatch stream),
// the message is sent, and the oldest is finished once sendAhead wait for
// their answers, so that the store stores while the next messages are
// received and sent; otherwise it is put and finished at once. Either way
// messages are finished in order, and each is staged until the barrier of
// its batch.
func (w *worker) put(in *inbound) {
	p := w.start(in)
	if p.sent {
		w.sending = append(w.sending, p)
		if len(w.sending) > sendAhead {
			w.finishOldest()
		}
		return
	}
	w.drain()
	w.finish(p)
}

// drain finishes the messages sent and not yet answered.
func (w *worker) drain() {
	for len(w.sending) > 0 {
		w.finishOldest()
	}
}

// finishOldest reads the answer to the oldest message sent and finishes it.
func (w *worker) finishOldest() {
	p := w.sending[0]
	w.sending[0] = nil
	w.sending = w.sending[1:]
	p.res, p.err = w.pw.(sdk.BatchSender).Result()
	w.finish(p)
}

// start sends in to the store (or puts it).
func (w *worker) start(in *inbound) *putting {
	j := w.j
	p := &putting{in: in, r: newMsgReader(in)}
	_, deferSync := j.o.Store.(sdk.Syncer)
	opts := sdk.PutOptions{Tag: sdk.TagStaged, SourceID: j.prefix + in.m.uidl, DeferSync: deferSync}
	if bs := w.sender(); bs != nil {
		p.err = bs.Send(opts, p.r)
		p.sent = p.err == nil
		return p
	}
	p.res, p.err = w.putItem(opts, p.r)
	return p
}

// sender is the session's PutBatch stream when it takes items ahead of
// their answers, nil otherwise.
func (w *worker) sender() sdk.BatchSender {
	bp, ok := w.j.o.Store.(sdk.BatchPutter)
	if !ok {
		return nil
	}
	if w.pw == nil {
		pw, err := bp.PutBatch(w.ctx, w.j.o.Mailbox)
		if err != nil {
			return nil // putItem reports it
		}
		w.pw = pw
	}
	bs, _ := w.pw.(sdk.BatchSender)
	return bs
}

// finish checks the store's answer for p and records the message.
func (w *worker) finish(p *putting) {
	j := w.j
	in, m, r, res, err := p.in, p.in.m, p.r, p.res, p.err
	if err == nil {
		// A store that answers Existing may not read the body to its end:
		// the checksum is over the whole message.
		_, err = io.Copy(io.Discard, r)
	}
	conv := r.finish(err)
	if err == nil {
		// One line per message the store took (staged, not yet durable):
		// the crash test kills on the Nth.
		j.log.Debug("message put in the store", "num", m.num, "uidl", m.uidl, "uid", res.UID, "existing", res.Existing)
	}
	if err != nil {
		in.discard()
		if in.err != nil && !errors.Is(in.err, errStoreFailed) {
			// The message did not arrive whole: nothing is stored.
			j.event(Event{Outcome: Failed, Num: m.num, UIDL: m.uidl, Err: fmt.Errorf("retrieving message %d: %w", m.num, in.err)})
			return
		}
		if r.readErr != nil && in.err == nil {
			err = r.readErr
		}
		j.event(Event{Outcome: Failed, Num: m.num, UIDL: m.uidl, Err: fmt.Errorf("store: put: %w", err)})
		w.failStore(err)
		return
	}
	size, sum := r.n, r.sum()
	if size != m.size {
		lvl := "warn"
		if size == m.size+2 {
			lvl = "debug" // a message without a final line end: the CRLF the server adds is not in LIST (Dovecot)
		}
		if lvl == "warn" {
			j.log.Warn("the server's LIST size differs from the message it sent; the message is stored as sent",
				"num", m.num, "uidl", m.uidl, "list_size", m.size, "received", size)
		} else {
			j.log.Debug("LIST size is 2 octets short of the message (no final line end)", "num", m.num, "uidl", m.uidl)
		}
	}
	j.received.Messages++
	j.received.Bytes += size
	if j.o.OnProgress != nil {
		j.o.OnProgress(j.received)
	}
	if res.Existing {
		if res.Tag != sdk.TagStaged {
			// Stored by someone else in the meantime.
			j.held[m.uidl] = heldItem{uid: res.UID, tag: res.Tag}
			j.tags[res.UID] = res.Tag
			w.done = append(w.done, m)
			j.reportOnce(m, Event{Outcome: Held, Num: m.num, UIDL: m.uidl, Size: res.Size, UID: res.UID})
			return
		}
		if res.Size != size || res.SHA256 != sum {
			// A staged item left by an interrupted run that is not this
			// message (damaged by a crash): remove it; the next session or
			// run stores the message afresh.
			w.deleteStaged(res.UID)
			j.event(Event{Outcome: Failed, Num: m.num, UIDL: m.uidl, Err: fmt.Errorf(
				"a staged item %s holds this message's SourceID but not its content (%d octets, want %d): removed, the message is fetched again", res.UID, res.Size, size)})
			return
		}
		j.log.Debug("finishing a message staged by an interrupted run", "num", m.num, "uid", res.UID)
		w.add(staged{m: m, uid: res.UID, cur: sdk.TagStaged, target: conv, size: size})
		return
	}
	if res.Size != size || res.SHA256 != sum {
		w.deleteStaged(res.UID)
		j.event(Event{Outcome: Failed, Num: m.num, UIDL: m.uidl, Err: fmt.Errorf(
			"the store reports %d octets sha256 %s for a message of %d octets sha256 %s: removed", res.Size, res.SHA256, size, sum)})
		return
	}
	target := conv
	if res.DuplicateOf != "" && w.dupTarget(res.DuplicateOf) {
		target = sdk.TagDup
	}
	cur := res.Tag
	if cur == "" {
		cur = sdk.TagStaged
	}
	w.add(staged{m: m, uid: res.UID, cur: cur, target: target, size: size})
}

// putItem stores one message: through the session's PutBatch stream when
// the store has one (one plugin call for the whole session), else by Put.
// Either way the item is durable at the next barrier (or at once, for a
// store without sdk.Syncer), so the exactly-once rules are the same.
func (w *worker) putItem(opts sdk.PutOptions, r io.Reader) (sdk.PutResult, error) {
	bp, ok := w.j.o.Store.(sdk.BatchPutter)
	if !ok {
		return w.j.o.Store.Put(w.ctx, w.j.o.Mailbox, opts, r)
	}
	if w.pw == nil {
		pw, err := bp.PutBatch(w.ctx, w.j.o.Mailbox)
		if err != nil {
			return sdk.PutResult{}, err
		}
		w.pw = pw
	}
	return w.pw.Put(opts, r)
}

// dupTarget reports whether uid may be the original of a dup: an item the
// store holds for good, or one of this batch (durable at the same barrier).
func (w *worker) dupTarget(uid string) bool {
	if w.pending[uid] {
		return true
	}
	t, ok := w.j.tags[uid]
	return ok && t != sdk.TagStaged
}

func (w *worker) add(st staged) {
	w.batch = append(w.batch, st)
	w.batchLen += st.size
	w.pending[st.uid] = true
	w.j.tags[st.uid] = sdk.TagStaged
	w.j.held[st.m.uidl] = heldItem{uid: st.uid, tag: sdk.TagStaged}
}

// deleteStaged removes a staged item that failed verification (best
// effort: a rerun deals with it again).
func (w *worker) deleteStaged(uid string) {
	ctx, cancel := w.j.storeCtx(w.ctx)
	defer cancel()
	if _, err := w.j.o.Store.Delete(ctx, w.j.o.Mailbox, []string{uid}); err != nil {
		w.j.log.Warn("could not remove a staged item that failed verification", "uid", uid, "error", err)
		return
	}
	delete(w.j.tags, uid)
}

// barrier makes everything stored so far durable, when the store defers
// durability to a barrier.
func (w *worker) barrier() error {
	sy, ok := w.j.o.Store.(sdk.Syncer)
	if !ok {
		return nil
	}
	ctx, cancel := w.j.storeCtx(w.ctx)
	defer cancel()
	if err := sy.Sync(ctx, w.j.o.Mailbox); err != nil {
		return fmt.Errorf("durability barrier: %w", err)
	}
	return nil
}

// flush runs the barrier, tags the batch, runs the barrier again and
// reports the batch's messages as stored.
func (w *worker) flush() {
	w.drain()
	if w.storeErr != nil {
		// An answer drained just now failed: the store is not trusted
		// with this batch's barrier.
		w.failBatch(w.storeErr)
		return
	}
	if len(w.batch) == 0 {
		return
	}
	j := w.j
	if err := w.barrier(); err != nil {
		w.failStore(err)
		w.failBatch(err)
		return
	}
	notFound := map[string]bool{}
	for _, tag := range []sdk.Tag{sdk.TagUnread, sdk.TagConversionError, sdk.TagDup} {
		var uids []string
		for _, st := range w.batch {
			if st.target == tag && st.cur != tag {
				uids = append(uids, st.uid)
			}
		}
		if len(uids) == 0 {
			continue
		}
		ctx, cancel := j.storeCtx(w.ctx)
		nf, err := j.o.Store.SetTag(ctx, j.o.Mailbox, uids, tag)
		cancel()
		if err != nil {
			err = fmt.Errorf("tagging %d messages %s: %w", len(uids), tag, err)
			w.failStore(err)
			w.failBatch(err)
			return
		}
		for _, u := range nf {
			notFound[u] = true
		}
	}
	if err := w.barrier(); err != nil {
		w.failStore(err)
		w.failBatch(err)
		return
	}
	for _, st := range w.batch {
		delete(w.pending, st.uid)
		if notFound[st.uid] {
			delete(j.tags, st.uid)
			delete(j.held, st.m.uidl)
			j.event(Event{Outcome: Failed, Num: st.m.num, UIDL: st.m.uidl, Err: fmt.Errorf("item %s vanished from the store before it was tagged", st.uid)})
			continue
		}
		j.tags[st.uid] = st.target
		j.held[st.m.uidl] = heldItem{uid: st.uid, tag: st.target}
		w.done = append(w.done, st.m)
		w.stored++
		out := Stored
		switch st.target {
		case sdk.TagDup:
			out = Dup
		case sdk.TagConversionError:
			out = ConversionError
		}
		j.event(Event{Outcome: out, Num: st.m.num, UIDL: st.m.uidl, Size: st.size, UID: st.uid})
	}
	w.batch, w.batchLen = nil, 0
}

// failBatch reports the batch as failed: its items stay staged and the
// next run finishes them.
func (w *worker) failBatch(err error) {
	for _, st := range w.batch {
		delete(w.pending, st.uid)
		w.j.event(Event{Outcome: Failed, Num: st.m.num, UIDL: st.m.uidl, Err: err})
	}
	w.batch, w.batchLen = nil, 0
}

// msgReader is the body of a Put: the chunks of one inbound message. It
// counts and hashes what it hands out and feeds the MIME check.
type msgReader struct {
	in      *inbound
	cur     chunk
	off     int
	n       int64
	h       hash.Hash
	check   *mimeCheck
	readErr error // the data's own error (incomplete message)
	eof     bool
}

func newMsgReader(in *inbound) *msgReader {
	return &msgReader{in: in, h: sha256.New(), check: newMIMECheck()}
}

func (r *msgReader) Read(p []byte) (int, error) {
	for r.cur.buf == nil || r.off == r.cur.n {
		if r.cur.buf != nil {
			chunkPool.Put(r.cur.buf)
			r.cur.buf = nil
		}
		if r.eof {
			if r.readErr != nil {
				return 0, r.readErr
			}
			return 0, io.EOF
		}
		c, ok := <-r.in.chunks
		if !ok {
			r.eof = true
			if r.in.err != nil {
				r.readErr = fmt.Errorf("message data: %w", r.in.err)
			}
			continue
		}
		r.cur, r.off = c, 0
	}
	k := copy(p, (*r.cur.buf)[r.off:r.cur.n])
	r.off += k
	r.n += int64(k)
	r.h.Write(p[:k])
	r.check.Write(p[:k])
	return k, nil
}

func (r *msgReader) sum() string { return hex.EncodeToString(r.h.Sum(nil)) }

// SHA256 implements sdk.Digester: the store's plugin host sends it as the
// item's checksum instead of hashing the message a second time.
func (r *msgReader) SHA256() [32]byte {
	var d [32]byte
	r.h.Sum(d[:0])
	return d
}

// finish ends the MIME check and returns the tag it calls for.
func (r *msgReader) finish(err error) sdk.Tag {
	if r.cur.buf != nil {
		chunkPool.Put(r.cur.buf)
		r.cur.buf = nil
	}
	if err != nil {
		r.check.stop(err)
		return sdk.TagConversionError
	}
	if r.check.close() != nil {
		return sdk.TagConversionError
	}
	return sdk.TagUnread
}
