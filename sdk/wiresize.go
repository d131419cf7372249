package sdk

import (
	"bytes"
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
//
// Every octet counts 1, and each lone CR and each bare LF 1 more (a line
// end is 2 octets on the wire; a CRLF already is). Counting with
// bytes.Count instead of looking at each octet: a byte loop was 8 % of
// the localfs plugin's CPU in a clientpop3 sync of 20 KB messages.
func (c *WireCounter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	crs := bytes.Count(p, crOctet)
	lfs := bytes.Count(p, lfOctet)
	pairs := 0
	if crs > 0 && lfs > 0 {
		pairs = bytes.Count(p, crlfOctets)
	}
	extra := int64(crs-pairs) + int64(lfs-pairs)
	if c.lastCR && p[0] == '\n' {
		// The CR that ended the last write was counted as lone and this LF
		// as bare: together they are one CRLF.
		extra -= 2
	}
	c.n += int64(len(p)) + extra
	last := p[len(p)-1]
	c.lastCR = last == '\r'
	c.atStart = last == '\r' || last == '\n'
	c.seen = true
	return len(p), nil
}

var (
	crOctet    = []byte{'\r'}
	lfOctet    = []byte{'\n'}
	crlfOctets = []byte("\r\n")
)

// Size returns the wire size of everything written so far, as if it were the
// whole message.
func (c *WireCounter) Size() int64 {
	if c.seen && !c.atStart {
		return c.n + 2
	}
	return c.n
}

var _ io.Writer = (*WireCounter)(nil)
