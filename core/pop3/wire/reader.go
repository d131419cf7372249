package wire

import (
	"bufio"
	"errors"
	"io"
	"strconv"
)

// Line limits, in octets, not counting the CRLF.
const (
	// MaxCommandLine is the longest command line a server accepts.
	// RFC 2449 §4 raises the limit to 255 octets including the CRLF; we
	// accept 255 octets plus the line ending, a little more than required.
	MaxCommandLine = 255
	// MaxResponseLine is the longest status line a client should accept.
	// RFC 2449 §4 allows 512 octets including the CRLF; real servers
	// sometimes send longer texts, so clients may pick more.
	MaxResponseLine = 512
)

// ErrLineTooLong is matched (errors.Is) by the *LineTooLongError a
// LineReader returns for an over-long line.
var ErrLineTooLong = errors.New("pop3/wire: line too long")

// LineTooLongError reports a line longer than the reader's limit. The rest
// of the line has been read and discarded, so the next ReadLine starts at
// the next line.
type LineTooLongError struct {
	Limit int // the limit in octets, not counting the line ending
}

func (e *LineTooLongError) Error() string {
	return "pop3/wire: line longer than " + strconv.Itoa(e.Limit) + " octets"
}

// Is makes errors.Is(err, ErrLineTooLong) true.
func (e *LineTooLongError) Is(target error) bool { return target == ErrLineTooLong }

// LineReader reads lines of at most a fixed number of octets. A line ends
// with LF; a CR right before it is removed too (CRLF, and the bare LF some
// peers send).
type LineReader struct {
	r   *bufio.Reader
	max int
	buf []byte
}

// NewLineReader returns a reader of lines of at most max octets (not
// counting the line ending) from r. max must be positive.
func NewLineReader(r *bufio.Reader, max int) *LineReader {
	if max <= 0 {
		panic("pop3/wire: NewLineReader with a non-positive limit")
	}
	return &LineReader{r: r, max: max}
}

// Reset makes lr read from r, discarding any partial state.
func (lr *LineReader) Reset(r *bufio.Reader) { lr.r = r; lr.buf = lr.buf[:0] }

// ReadLine returns the next line without its line ending. A line longer
// than the limit is discarded up to and including its LF, and ReadLine
// returns a *LineTooLongError. At the end of input it returns io.EOF, or
// io.ErrUnexpectedEOF if a partial line was pending.
func (lr *LineReader) ReadLine() (string, error) {
	// Fast path: the whole line is in the bufio buffer.
	chunk, err := lr.r.ReadSlice('\n')
	if err == nil {
		line := trimEOL(chunk)
		if len(line) > lr.max {
			return "", &LineTooLongError{Limit: lr.max}
		}
		return string(line), nil
	}
	lr.buf = append(lr.buf[:0], chunk...)
	for {
		if err == nil {
			break
		}
		if err != bufio.ErrBufferFull {
			if err == io.EOF && len(lr.buf) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
		// Content so far is len(buf), one of which may be a CR before LF.
		if len(lr.buf) > lr.max+1 {
			return "", lr.discard()
		}
		chunk, err = lr.r.ReadSlice('\n')
		lr.buf = append(lr.buf, chunk...)
	}
	line := trimEOL(lr.buf)
	if len(line) > lr.max {
		return "", &LineTooLongError{Limit: lr.max}
	}
	return string(line), nil
}

// discard reads up to and including the next LF.
func (lr *LineReader) discard() error {
	lr.buf = lr.buf[:0]
	for {
		_, err := lr.r.ReadSlice('\n')
		switch err {
		case nil:
			return &LineTooLongError{Limit: lr.max}
		case bufio.ErrBufferFull:
			continue
		case io.EOF:
			return io.ErrUnexpectedEOF
		default:
			return err
		}
	}
}

// trimEOL removes a final LF and a CR before it.
func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

// HasLine reports whether r holds a complete line (an LF) in its buffer,
// so reading it will not block. A server flushes its replies only when no
// complete command is buffered: that is what makes pipelining (RFC 2449
// §6.6) cost one write per batch.
func HasLine(r *bufio.Reader) bool {
	n := r.Buffered()
	if n == 0 {
		return false
	}
	b, _ := r.Peek(n)
	for _, c := range b {
		if c == '\n' {
			return true
		}
	}
	return false
}
