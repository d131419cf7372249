package wire

import (
	"bufio"
	"io"
)

// DotReader reads the body of a multi-line reply (RFC 1939 §3) up to its
// terminator line ".": it removes the byte-stuffed leading "." of a line
// and returns io.EOF after the terminator. Lines come out with CRLF
// endings; a line ended by a bare LF (some servers send them) comes out
// with CRLF too. If the input ends before the terminator, Read returns
// io.ErrUnexpectedEOF: a truncated message is never taken for a whole one.
type DotReader struct {
	r           *bufio.Reader
	atLineStart bool
	lastCR      bool   // the last octet returned was a CR
	pending     []byte // returned by the next Read; a slice of r's buffer
	addCRLF     bool   // after pending, return "\r\n" (bare LF normalised)
	crlfOff     int    // how much of that CRLF is already returned
	err         error  // io.EOF after the terminator, or the sticky error
}

// NewDotReader returns a DotReader reading from r.
func NewDotReader(r *bufio.Reader) *DotReader {
	return &DotReader{r: r, atLineStart: true}
}

// Read implements io.Reader.
func (d *DotReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(d.pending) > 0 {
			c := copy(p[n:], d.pending)
			d.pending = d.pending[c:]
			n += c
			continue
		}
		if d.addCRLF {
			c := copy(p[n:], crlf[d.crlfOff:])
			d.crlfOff += c
			n += c
			if d.crlfOff == len(crlf) {
				d.addCRLF, d.crlfOff = false, 0
			}
			continue
		}
		if d.err != nil {
			break
		}
		if n > 0 && d.r.Buffered() == 0 {
			// Do not block for more while we have something to return.
			break
		}
		d.next()
	}
	if n > 0 {
		return n, nil
	}
	return 0, d.err
}

// next reads the next piece of a line into pending, or sets err.
func (d *DotReader) next() {
	line, err := d.r.ReadSlice('\n')
	switch err {
	case nil, bufio.ErrBufferFull:
	case io.EOF:
		d.err = io.ErrUnexpectedEOF
		if len(line) == 0 {
			return
		}
	default:
		d.err = err
		return
	}
	if d.atLineStart && len(line) > 0 && line[0] == '.' {
		if err == nil && (len(line) == 2 || (len(line) == 3 && line[1] == '\r')) {
			d.err = io.EOF // the terminator ".\r\n" (or ".\n")
			return
		}
		line = line[1:]
	}
	if err != nil { // partial line: the rest follows
		d.pending = line
		d.atLineStart = false
		if len(line) > 0 {
			d.lastCR = line[len(line)-1] == '\r'
		}
		return
	}
	d.atLineStart = true
	body := line[:len(line)-1]
	switch {
	case len(body) > 0 && body[len(body)-1] == '\r':
		d.pending = line
	case len(body) == 0 && d.lastCR:
		d.pending = line // the LF of a CRLF split across reads
	default:
		d.pending = body
		d.addCRLF = true
	}
	d.lastCR = false
}
