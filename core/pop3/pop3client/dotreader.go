package pop3client

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
)

// dotReader reads the data of a multi-line reply (RFC 1939 §3): it removes
// the stuffed "." from lines that begin with one and stops at the line that
// is a single ".", returning io.EOF. Line ends pass through unchanged; a
// bare LF ends a line like CRLF does (servers that send bare LF exist).
// The end of the connection before the terminator is an error wrapping
// io.ErrUnexpectedEOF. A line longer than max octets (without its line end)
// is an error wrapping ErrProtocol. Memory use is bufio's buffer only.
type dotReader struct {
	r       *bufio.Reader
	max     int
	state   dotState
	lineLen int   // octets of the current line so far, line end included
	err     error // sticky: io.EOF at the terminator, or the failure
}

type dotState int

const (
	stateBeginLine dotState = iota // at the start of a line
	stateDot                       // read a "." at the start of a line
	stateDotCR                     // read ".\r" at the start of a line
	stateData                      // inside a line
)

func newDotReader(r *bufio.Reader, max int) *dotReader {
	return &dotReader{r: r, max: max}
}

func (d *dotReader) Read(p []byte) (n int, err error) {
	if d.err != nil {
		return 0, d.err
	}
	for n < len(p) {
		// Return what we have rather than block for more.
		if n > 0 && d.r.Buffered() == 0 {
			return n, nil
		}
		switch d.state {
		case stateBeginLine, stateDot, stateDotCR:
			b, err := d.r.ReadByte()
			if err != nil {
				return n, d.fail(err)
			}
			switch d.state {
			case stateBeginLine:
				d.lineLen = 0
				if b == '.' {
					d.state = stateDot
					continue
				}
				d.r.UnreadByte()
				d.state = stateData
			case stateDot:
				switch b {
				case '\r':
					d.state = stateDotCR
				case '\n':
					return n, d.end()
				default:
					// A stuffed line: drop the dot, keep the rest.
					d.r.UnreadByte()
					d.state = stateData
				}
			case stateDotCR:
				if b == '\n' {
					return n, d.end()
				}
				// ".\r" followed by something else: a stuffed line whose
				// data starts with a CR.
				d.r.UnreadByte()
				p[n] = '\r'
				n++
				d.lineLen = 1
				d.state = stateData
			}
		case stateData:
			if d.r.Buffered() == 0 {
				if _, err := d.r.Peek(1); err != nil {
					return n, d.fail(err)
				}
			}
			buf, _ := d.r.Peek(d.r.Buffered())
			eol := bytes.IndexByte(buf, '\n')
			if eol >= 0 {
				buf = buf[:eol+1]
			}
			m := copy(p[n:], buf)
			d.r.Discard(m)
			n += m
			d.lineLen += m
			if d.lineLen > d.max+2 { // +2: the line end is counted too
				d.err = fmt.Errorf("%w: message line longer than %d octets", ErrProtocol, d.max)
				return n, d.err
			}
			if eol >= 0 && m == len(buf) {
				d.state = stateBeginLine
			}
		}
	}
	return n, nil
}

func (d *dotReader) end() error {
	d.err = io.EOF
	return d.err
}

func (d *dotReader) fail(err error) error {
	if err == io.EOF {
		err = fmt.Errorf("pop3client: connection closed before the end of the multi-line reply: %w", io.ErrUnexpectedEOF)
	}
	d.err = err
	return err
}
