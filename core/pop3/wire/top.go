package wire

import (
	"bytes"
	"io"
)

// TopWriter passes on the start of a message: its header, the empty line
// that ends the header, and the given number of body lines (RFC 1939 §7,
// TOP). Line ends are recognised as DotWriter does (CRLF, bare LF, lone
// CR). A message without an empty line is all header and passes whole.
// Once the cut is reached, Done reports true and further writes are
// accepted and dropped, so the caller can stop reading the message.
type TopWriter struct {
	w           io.Writer
	lines       int  // body lines still to pass
	inBody      bool // the empty line after the header was passed
	atLineStart bool
	lastCR      bool
	done        bool
}

// NewTopWriter returns a TopWriter that passes the header and bodyLines
// body lines of a message to w. bodyLines must not be negative.
func NewTopWriter(w io.Writer, bodyLines int) *TopWriter {
	if bodyLines < 0 {
		bodyLines = 0
	}
	return &TopWriter{w: w, lines: bodyLines, atLineStart: true}
}

// Done reports whether everything TOP asked for has been passed.
func (t *TopWriter) Done() bool { return t.done }

// Write implements io.Writer.
func (t *TopWriter) Write(p []byte) (int, error) {
	if t.done {
		return len(p), nil
	}
	i := 0
scan:
	for i < len(p) {
		if t.lastCR {
			t.lastCR = false
			if p[i] == '\n' {
				i++
				continue
			}
		}
		c := p[i]
		if c != '\r' && c != '\n' {
			t.atLineStart = false
			j := indexEOL(p[i:])
			if j < 0 {
				i = len(p)
				break
			}
			i += j
			continue
		}
		i++
		t.lastCR = c == '\r'
		switch {
		case !t.inBody && t.atLineStart:
			t.inBody = true // the empty line that ends the header
			if t.lines == 0 {
				t.done = true
				break scan
			}
		case t.inBody:
			t.lines--
			if t.lines == 0 {
				t.done = true
				break scan
			}
		}
		t.atLineStart = true
	}
	if t.done && t.lastCR && i < len(p) && p[i] == '\n' {
		i++ // keep the CRLF whole when its LF is at hand
		t.lastCR = false
	}
	if _, err := t.w.Write(p[:i]); err != nil {
		return 0, err
	}
	return len(p), nil
}

// indexEOL returns the index of the first CR or LF in b, or -1.
func indexEOL(b []byte) int {
	lf := bytes.IndexByte(b, '\n')
	seg := b
	if lf >= 0 {
		seg = b[:lf]
	}
	if cr := bytes.IndexByte(seg, '\r'); cr >= 0 {
		return cr
	}
	return lf
}
