package wire

import "io"

// Size returns the size of msg as POP3 transmits it, the figure LIST and
// STAT report: what DotWriter.Size gives once msg is written and the writer
// closed (every line ending CRLF, a final CRLF added to a non-empty message
// without one, byte-stuffing and terminator not counted; an empty message
// is 0). The rule is DotWriter's own, not a second implementation of it.
//
// Stores compute the same figure with sdk.WireCounter: package sdk may not
// import core and core/pop3 may not import sdk, so the two sides each have
// theirs, and core/storehost/pop3backend, which may import both, tests that
// they agree.
func Size(msg []byte) int64 {
	var d DotWriter
	d.Reset(io.Discard)
	d.Write(msg)
	d.Close()
	return d.Size()
}
