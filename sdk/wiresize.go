package sdk

import (
	"io"
)

// WireSizeOf reads r to the end and returns the number of octets the message
// has when sent by POP3 (Item.WireSize): CRLF, a bare LF and a lone CR each
// count as one CRLF (2 octets), every other octet as 1, and a final CRLF is
// added to a non-empty message that does not end with a line ending.
// Byte-stuffing is not counted. An empty message is 0.
func WireSizeOf(r io.Reader) (int64, error) {
	var c WireCounter
	if _, err := io.Copy(&c, r); err != nil {
		return 0, err
	}
	return c.Size(), nil
}

// WireCounter is an io.Writer that computes WireSizeOf incrementally, for
// stores that want the figure while they write a message (Put). izypop3's
// POP3 server counts what it sends by the same rule; its tests keep the two
// in step.
type WireCounter struct {
	n       int64
	lastCR  bool // previous octet was CR (its CRLF already counted)
	atStart bool // nothing seen yet or last octet ended a line
	seen    bool
}

// Write implements io.Writer; it never fails.
func (c *WireCounter) Write(p []byte) (int, error) {
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

// Size returns the wire size of everything written so far, as if it were the
// whole message.
func (c *WireCounter) Size() int64 {
	if c.seen && !c.atStart {
		return c.n + 2
	}
	return c.n
}

var _ io.Writer = (*WireCounter)(nil)
