package wire

import "io"

// Counter is an io.Writer that computes the size of a message as POP3
// transmits it: CRLF, a bare LF and a lone CR each count as one CRLF (2
// octets), every other octet as 1, and a final CRLF is added to a
// non-empty message that does not end with a line ending. Byte-stuffing is
// not counted; an empty message is 0. This is the rule of sdk.WireSizeOf
// (this package may not import sdk), and what DotWriter.Size reports.
type Counter struct {
	n       int64
	lastCR  bool // previous octet was CR (its CRLF already counted)
	atStart bool // the last octet ended a line
	seen    bool
}

// Write implements io.Writer; it never fails.
func (c *Counter) Write(p []byte) (int, error) {
	for _, b := range p {
		c.seen = true
		switch b {
		case '\r':
			c.n += 2
			c.lastCR = true
			c.atStart = true
			continue
		case '\n':
			if !c.lastCR {
				c.n += 2
			}
			c.atStart = true
		default:
			c.n++
			c.atStart = false
		}
		c.lastCR = false
	}
	return len(p), nil
}

// Size returns the transmitted size of everything written so far, taken
// as the whole message.
func (c *Counter) Size() int64 {
	if c.seen && !c.atStart {
		return c.n + 2
	}
	return c.n
}

// SizeOf reads r to the end and returns its transmitted size (see Counter).
func SizeOf(r io.Reader) (int64, error) {
	var c Counter
	if _, err := io.Copy(&c, r); err != nil {
		return 0, err
	}
	return c.Size(), nil
}

// Size returns the transmitted size of msg (see Counter).
func Size(msg []byte) int64 {
	var c Counter
	c.Write(msg)
	return c.Size()
}
