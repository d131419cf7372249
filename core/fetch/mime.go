package fetch

import (
	"errors"
	"io"

	"github.com/emersion/go-message"
)

// mimeCheck parses a message with emersion/go-message while it streams
// past (Write), without keeping it: the header (at most go-message's
// 1 MiB), and for multipart messages the structure of the parts (their
// boundaries and headers); part bodies are skipped undecoded. Unknown
// charsets and transfer encodings are not errors: the message is readable,
// only some part of it cannot be decoded.
//
// The data reaches the parser's goroutine in copies of whole writes
// through a small queue (one hand-over per write, not one per read of the
// parser's 4 KiB buffer); the queue holds at most mimeQueue writes. The
// copies are pooled chunk buffers, handed back once parsed: a new copy
// per write was 50 MiB of garbage for a 50 MiB message and a third of the
// fetcher's allocations for 20 KB ones.
type mimeCheck struct {
	q      chan chunk // closed at the end
	abort  chan error // the data is incomplete
	result chan error
	done   bool
}

const mimeQueue = 8

func newMIMECheck() *mimeCheck {
	c := &mimeCheck{q: make(chan chunk, mimeQueue), abort: make(chan error, 1), result: make(chan error, 1)}
	go func() {
		r := &queueReader{q: c.q, abort: c.abort}
		err := parseMIME(r)
		r.release()
		for c := range c.q { // let the writer finish
			chunkPool.Put(c.buf)
		}
		if r.err != nil && r.err != io.EOF {
			err = r.err
		}
		c.result <- err
	}()
	return c
}

// queueReader reads the queued writes.
type queueReader struct {
	q     chan chunk
	abort chan error
	cur   chunk
	off   int
	err   error
}

func (r *queueReader) Read(p []byte) (int, error) {
	for r.off == r.cur.n {
		if r.err != nil {
			return 0, r.err
		}
		r.release()
		c, ok := <-r.q
		if !ok {
			select {
			case r.err = <-r.abort:
			default:
				r.err = io.EOF
			}
			continue
		}
		r.cur, r.off = c, 0
	}
	n := copy(p, (*r.cur.buf)[r.off:r.cur.n])
	r.off += n
	return n, nil
}

// release hands the current buffer back.
func (r *queueReader) release() {
	if r.cur.buf != nil {
		chunkPool.Put(r.cur.buf)
	}
	r.cur, r.off = chunk{}, 0
}

// maxMIMEDepth is the deepest nesting of multipart parts accepted; real
// mail nests a few levels, and each level costs the parser a buffer.
const maxMIMEDepth = 64

// errTooDeep is the parse error of a message nested deeper than
// maxMIMEDepth.
var errTooDeep = errors.New("fetch: MIME parts nested too deep")

// parseMIME returns the first parse error of the message read from r.
func parseMIME(r io.Reader) error {
	e, err := message.Read(r)
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return err
	}
	return e.Walk(func(path []int, _ *message.Entity, err error) error {
		if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
			return err
		}
		if len(path) > maxMIMEDepth {
			return errTooDeep
		}
		return nil
	})
}

// Write feeds the parser; it never fails.
func (c *mimeCheck) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		bp := chunkPool.Get().(*[]byte)
		n := copy(*bp, p)
		c.q <- chunk{bp, n}
		p = p[n:]
	}
	return total, nil
}

// close ends the message and returns the parser's verdict.
func (c *mimeCheck) close() error {
	if !c.done {
		c.done = true
		close(c.q)
	}
	return <-c.result
}

// stop ends the parser early (the message is not complete).
func (c *mimeCheck) stop(err error) {
	c.abort <- err
	c.close()
}
