package wire

import (
	"bytes"
	"errors"
	"io"
)

// ErrClosed is returned by Write after Close or Abort.
var ErrClosed = errors.New("pop3/wire: write after close")

var (
	crlf       = []byte("\r\n")
	crByte     = []byte("\r")
	lfByte     = []byte("\n")
	dot        = []byte(".")
	terminator = []byte(".\r\n")
)

// DotWriter writes the body of a multi-line reply (RFC 1939 §3): it turns
// every line ending (CRLF, a bare LF or a lone CR) into CRLF, doubles a "."
// at the start of a line (byte-stuffing), and on Close adds a CRLF if the
// data did not end with a line ending, then the terminator ".\r\n". If
// anything goes wrong the caller calls Abort and closes the connection:
// the terminator is never sent after a truncated body.
//
// DotWriter does no buffering of its own; give it a *bufio.Writer.
type DotWriter struct {
	w           io.Writer
	atLineStart bool  // the next octet starts a line
	lastCR      bool  // the previous octet was a CR, already sent as CRLF
	closed      bool  // Close or Abort was called
	err         error // first write error, sticky
	n           int64 // octets of message written, excluding stuffing and terminator

	// wireForm: the message is said to be in wire form (ResetWireForm);
	// Write only byte-stuffs while each Write looks like it (writeWire).
	wireForm bool
	afterEOL bool // wireForm: the previous octet was a CR or LF (or none yet)
	heldCR   bool // wireForm: the previous Write ended in a CR, not written yet
}

// NewDotWriter returns a DotWriter writing to w.
func NewDotWriter(w io.Writer) *DotWriter {
	return &DotWriter{w: w, atLineStart: true}
}

// Reset makes d a fresh writer to w, so one can be reused.
func (d *DotWriter) Reset(w io.Writer) {
	*d = DotWriter{w: w, atLineStart: true}
}

// ResetWireForm is Reset for a message its source says is in wire form
// already: CRLF line ends only, the last line ended. A Write of such a
// message is then only byte-stuffed — one IndexByte per "." instead of
// one per line, which on mail of ~45-octet lines is most of Write's CPU
// (20 KB of such mail: 4.0 → 1.5 µs, BenchmarkDotWriterMail20KB).
//
// The claim is checked cheaply, not proved: a Write whose CRs and LFs do
// not pair up by count goes, with all the later ones, through the general
// conversion. A CR that ends a Write is held back and paired with the LF
// that must start the next one (a CRLF split between two reads of the
// source). Input that is not in
// wire form but passes the check (a lone CR and a bare LF in one Write)
// is sent with those octets as they are, but never with an unstuffed "."
// after a CR or an LF, and always ends with CRLF and the terminator: no
// line a client could take for the end of the reply is ever produced.
func (d *DotWriter) ResetWireForm(w io.Writer) {
	*d = DotWriter{w: w, atLineStart: true, wireForm: true, afterEOL: true}
}

// writeWire writes p of a wire-form message: it stuffs every "." that
// follows a CR or LF. It reports false, having written nothing, when p
// does not pass the wire-form check.
func (d *DotWriter) writeWire(p []byte) bool {
	if len(p) == 0 {
		return true
	}
	crs := bytes.Count(p, crByte)
	if d.heldCR {
		crs++
	}
	tail := p[len(p)-1] == '\r'
	if tail {
		crs--
	}
	if d.heldCR != (p[0] == '\n') || crs != bytes.Count(p, lfByte) {
		return false
	}
	wroteCR := d.heldCR
	if d.heldCR {
		d.write(crByte)
		d.n++
	}
	d.heldCR = tail
	if tail {
		p = p[:len(p)-1]
		if len(p) == 0 {
			return true
		}
	}
	start := 0
	for i := 0; i < len(p); {
		k := bytes.IndexByte(p[i:], '.')
		if k < 0 {
			break
		}
		k += i
		if k == 0 && d.afterEOL || k > 0 && (p[k-1] == '\n' || p[k-1] == '\r') {
			d.flush(p[start:k])
			d.write(dot) // RFC 1939 §3: byte-stuff a line starting with "."
			start = k
		}
		i = k + 1
	}
	d.flush(p[start:])
	last := p[len(p)-1]
	d.afterEOL = last == '\n'
	// Close adds a CRLF unless the message ended with one.
	prevCR := wroteCR
	if len(p) > 1 {
		prevCR = p[len(p)-2] == '\r'
	}
	d.atLineStart = last == '\n' && prevCR
	return true
}

// endHeldCR writes a CR held back by writeWire as the general conversion
// would have: as CRLF, an LF right after it being its second half.
func (d *DotWriter) endHeldCR() {
	if d.heldCR {
		d.heldCR = false
		d.write(crlf)
		d.n += 2
		d.lastCR = true
		d.atLineStart = true
	}
}

// Size returns the octets of message written so far in their transmitted
// form (CRLF line ends, final CRLF once closed), without byte-stuffing and
// terminator: the figure LIST reports for the message.
func (d *DotWriter) Size() int64 { return d.n }

func (d *DotWriter) write(b []byte) {
	if d.err == nil {
		_, d.err = d.w.Write(b)
	}
}

// Write converts and writes p. It returns len(p) unless the underlying
// writer failed. Runs of lines that need no change (CRLF-terminated, not
// starting with ".") are passed on in one write.
//
// The common input is CRLF-clean, so Write looks only for LFs, one
// IndexByte per line, and takes a line ending in CR LF as a CRLF. That is
// right unless a lone CR hides inside the run, which it checks once per run
// written (runClean); if the check fails, the run and the rest of p go
// through writeSlow, which also looks for every CR.
func (d *DotWriter) Write(p []byte) (int, error) {
	if d.wireForm && !d.closed && d.err == nil {
		if d.writeWire(p) {
			if d.err != nil {
				return 0, d.err
			}
			return len(p), nil
		}
		// Not in wire form after all: the general conversion from here
		// on. A "." right after an LF passed as it was is still stuffed.
		d.wireForm = false
		d.atLineStart = d.atLineStart || d.afterEOL
		d.endHeldCR()
	}
	i, err := d.begin(p)
	if err != nil {
		return 0, err
	}
	atLine := d.atLineStart // the octet p[i] starts a line
	start := i              // p[start:i] is an unchanged run not yet written
	startLine := atLine     // atLine as of p[start]
	crlfs := 0              // lines of p[start:i] that end in CR LF
	nextCR := -1            // the first CR at or after start once looked for (len(p): none)
	for i < len(p) {
		if atLine && p[i] == '.' {
			if !(crlfs == 0 && nextCR >= i) && !runClean(p, start, i, crlfs, &nextCR) {
				return d.writeSlow(p, start, startLine)
			}
			d.flush(p[start:i])
			d.write(dot) // RFC 1939 §3: byte-stuff a line starting with "."
			// The "." itself starts the next run.
			start, startLine, crlfs = i, false, 0
		}
		lf := bytes.IndexByte(p[i:], '\n')
		if lf < 0 {
			break
		}
		lf += i
		if lf > i && p[lf-1] == '\r' {
			// A CRLF (unless a lone CR precedes it: runClean finds out).
			crlfs++
			i = lf + 1
			atLine = true
			continue
		}
		// A bare LF.
		if !(crlfs == 0 && nextCR >= lf) && !runClean(p, start, lf, crlfs, &nextCR) {
			return d.writeSlow(p, start, startLine)
		}
		d.flush(p[start:lf])
		d.write(crlf)
		d.n += 2
		i = lf + 1
		start, startLine, crlfs = i, true, 0
		atLine = true
		if d.err != nil {
			return 0, d.err
		}
	}
	end := len(p)
	if i < len(p) {
		// The rest of p holds no LF; a CR at its very end may be the first
		// half of a CRLF split across two Writes.
		atLine = false
		if p[end-1] == '\r' {
			end--
		}
	}
	if !(crlfs == 0 && nextCR >= end) && !runClean(p, start, end, crlfs, &nextCR) {
		return d.writeSlow(p, start, startLine)
	}
	d.flush(p[start:end])
	if end < len(p) {
		d.write(crlf)
		d.n += 2
		d.lastCR = true
		atLine = true
	}
	d.atLineStart = atLine
	if d.err != nil {
		return 0, d.err
	}
	return len(p), nil
}

// flush writes run, a part of the message passed on unchanged.
func (d *DotWriter) flush(run []byte) {
	if len(run) > 0 {
		d.write(run)
		d.n += int64(len(run))
	}
}

// runClean reports whether every CR in p[start:end] is one of the crlfs
// CRs that end its lines, i.e. whether the run holds no lone CR. *nextCR
// caches the first CR at or after start for runs without CRLF (so that LF
// text with no CR at all is looked at once).
func runClean(p []byte, start, end, crlfs int, nextCR *int) bool {
	if crlfs > 0 {
		return bytes.Count(p[start:end], crByte) == crlfs
	}
	if *nextCR < start {
		if k := bytes.IndexByte(p[start:], '\r'); k >= 0 {
			*nextCR = start + k
		} else {
			*nextCR = len(p)
		}
	}
	return *nextCR >= end
}

// begin starts a Write of p: it fails once the writer is closed or broken,
// and returns where p's conversion starts (after the LF of a CRLF whose CR
// ended the previous Write and was sent as CRLF).
func (d *DotWriter) begin(p []byte) (int, error) {
	if d.closed {
		return 0, ErrClosed
	}
	if d.err != nil {
		return 0, d.err
	}
	if d.lastCR {
		d.lastCR = false
		if len(p) > 0 && p[0] == '\n' {
			return 1, nil
		}
	}
	return 0, nil
}

// writeSlow converts and writes p[start:], which begins with the line
// state atLineStart and no pending CR: the general algorithm, which finds
// every CR and LF with a scan of its own. It returns what Write returns.
func (d *DotWriter) writeSlow(p []byte, start int, atLineStart bool) (int, error) {
	d.atLineStart = atLineStart
	d.lastCR = false
	i := start
	flush := func(end int) {
		if end > start {
			d.write(p[start:end])
			d.n += int64(end - start)
		}
	}
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
func (d *DotWriter) Close() error {
	if d.closed {
		return d.err
	}
	if d.err != nil {
		d.closed = true
		return d.err
	}
	d.endHeldCR()
	d.closed = true
	if !d.atLineStart {
		d.write(crlf)
		d.n += 2
	}
	d.write(terminator)
	return d.err
}

// Abort ends the writer without writing anything more, in particular
// without the terminator. The caller must then close the connection.
func (d *DotWriter) Abort() {
	d.closed = true
	if d.err == nil {
		d.err = ErrClosed
	}
}
