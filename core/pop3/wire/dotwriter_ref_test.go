package wire

// This file keeps the DotWriter as it was before the one-scan-per-line
// rewrite (commit 6a9e5d2), unchanged but for its name: the reference the
// differential tests and FuzzDotWriterDiff compare the new one against, and
// the baseline of BenchmarkDotWriterRef*.

import (
	"bytes"
	"io"
)

// refDotWriter writes the body of a multi-line reply (RFC 1939 §3): it turns
// every line ending (CRLF, a bare LF or a lone CR) into CRLF, doubles a "."
// at the start of a line (byte-stuffing), and on Close adds a CRLF if the
// data did not end with a line ending, then the terminator ".\r\n". If
// anything goes wrong the caller calls Abort and closes the connection:
// the terminator is never sent after a truncated body.
//
// refDotWriter does no buffering of its own; give it a *bufio.Writer.
type refDotWriter struct {
	w           io.Writer
	atLineStart bool  // the next octet starts a line
	lastCR      bool  // the previous octet was a CR, already sent as CRLF
	closed      bool  // Close or Abort was called
	err         error // first write error, sticky
	n           int64 // octets of message written, excluding stuffing and terminator
}

// newRefDotWriter returns a refDotWriter writing to w.
func newRefDotWriter(w io.Writer) *refDotWriter {
	return &refDotWriter{w: w, atLineStart: true}
}

// Size returns the octets of message written so far in their transmitted
// form (CRLF line ends, final CRLF once closed), without byte-stuffing and
// terminator: the figure LIST reports for the message.
func (d *refDotWriter) Size() int64 { return d.n }

func (d *refDotWriter) write(b []byte) {
	if d.err == nil {
		_, d.err = d.w.Write(b)
	}
}

// Write converts and writes p. It returns len(p) unless the underlying
// writer failed. Runs of lines that need no change (CRLF-terminated, not
// starting with ".") are passed on in one write.
func (d *refDotWriter) Write(p []byte) (int, error) {
	if d.closed {
		return 0, ErrClosed
	}
	if d.err != nil {
		return 0, d.err
	}
	start := 0 // p[start:i] is an unchanged run not yet written
	flush := func(end int) {
		if end > start {
			d.write(p[start:end])
			d.n += int64(end - start)
		}
	}
	i := 0
	for i < len(p) {
		if d.lastCR {
			d.lastCR = false
			if p[i] == '\n' { // the LF of a CRLF whose CR was sent as CRLF
				i++
				start = i
				continue
			}
		}
		if d.atLineStart && p[i] == '.' {
			flush(i)
			d.write(dot) // RFC 1939 §3: byte-stuff a line starting with "."
			start = i    // the "." itself starts the next run
		}
		rest := p[i:]
		lf := bytes.IndexByte(rest, '\n')
		seg := rest
		if lf >= 0 {
			seg = rest[:lf]
		}
		cr := bytes.IndexByte(seg, '\r')
		switch {
		case cr >= 0 && cr+1 < len(rest) && rest[cr+1] == '\n':
			// A proper CRLF: the line stays in the run.
			i += cr + 2
			d.atLineStart = true
		case cr >= 0:
			// A lone CR (or a CR at the end of p, whose LF may follow).
			flush(i + cr)
			d.write(crlf)
			d.n += 2
			i += cr + 1
			start = i
			d.lastCR = true
			d.atLineStart = true
		case lf >= 0:
			// A bare LF.
			flush(i + lf)
			d.write(crlf)
			d.n += 2
			i += lf + 1
			start = i
			d.atLineStart = true
		default:
			// No line ending in the rest of p.
			i = len(p)
			d.atLineStart = false
		}
		if d.err != nil {
			return 0, d.err
		}
	}
	flush(i)
	if d.err != nil {
		return 0, d.err
	}
	return len(p), nil
}

// Close ends the body: a CRLF if the data did not end with a line ending,
// then ".\r\n". It does not close or flush the underlying writer. After a
// write error Close returns that error and writes nothing.
func (d *refDotWriter) Close() error {
	if d.closed {
		return d.err
	}
	d.closed = true
	if d.err != nil {
		return d.err
	}
	if !d.atLineStart {
		d.write(crlf)
		d.n += 2
	}
	d.write(terminator)
	return d.err
}

// Abort ends the writer without writing anything more, in particular
// without the terminator. The caller must then close the connection.
func (d *refDotWriter) Abort() {
	d.closed = true
	if d.err == nil {
		d.err = ErrClosed
	}
}
