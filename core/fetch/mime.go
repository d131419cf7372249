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
type mimeCheck struct {
	pw     *io.PipeWriter
	result chan error
	werr   error // the parser is done: further writes are dropped
}

func newMIMECheck() *mimeCheck {
	pr, pw := io.Pipe()
	c := &mimeCheck{pw: pw, result: make(chan error, 1)}
	go func() {
		err := parseMIME(pr)
		// Let the writer finish: read and drop the rest.
		io.Copy(io.Discard, pr)
		c.result <- err
	}()
	return c
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
	if c.werr == nil {
		_, c.werr = c.pw.Write(p)
	}
	return len(p), nil
}

// close ends the message and returns the parser's verdict.
func (c *mimeCheck) close() error {
	c.pw.Close()
	return <-c.result
}

// abort ends the parser early (the message is not complete).
func (c *mimeCheck) abort(err error) {
	c.pw.CloseWithError(err)
	<-c.result
}
