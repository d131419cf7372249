package wire

import (
	"bytes"
	"errors"
	"io"
	"math/rand"
	"testing"

	"github.com/izyware/izypop3/internal/testkit"
)

// dotAlphabet is what diffInput maps fuzz bytes to, so that line ends,
// dots and their combinations are frequent.
const dotAlphabet = "\r\n.\r\na"

// diffInput returns in, or (mode&1) in mapped onto dotAlphabet.
func diffInput(in []byte, mode uint8) []byte {
	if mode&1 == 0 {
		return in
	}
	out := make([]byte, len(in))
	for i, b := range in {
		out[i] = dotAlphabet[int(b)%len(dotAlphabet)]
	}
	return out
}

// limitWriter accepts limit octets in all, then writes what still fits
// and fails: the output is a prefix of the stream however it is cut into
// Writes.
type limitWriter struct {
	buf   bytes.Buffer
	limit int
}

var errLimit = errors.New("limit reached")

func (l *limitWriter) Write(p []byte) (int, error) {
	if room := l.limit - l.buf.Len(); len(p) > room {
		l.buf.Write(p[:max(room, 0)])
		return max(room, 0), errLimit
	}
	return l.buf.Write(p)
}

// diffDotWriter writes in to a DotWriter and to the reference, cut into
// Writes of the lengths in cuts (cycled; 0 stands for 1), and fails the
// test on any difference in output, Write results, Size or Close. With
// limit >= 0 the underlying writers fail after limit octets; abort ends
// with Abort instead of Close. Size is compared only while no write has
// failed: after a failure it counts what each implementation had got to
// (Size is read only after a successful Close).
func diffDotWriter(t *testing.T, in []byte, cuts []byte, limit int, abort bool) {
	t.Helper()
	lim := limit
	if lim < 0 {
		lim = 1 << 30
	}
	got, want := &limitWriter{limit: lim}, &limitWriter{limit: lim}
	dw, ref := NewDotWriter(got), newSlowDotWriter(want)
	for k, p := 0, in; len(p) > 0; k++ {
		n := len(p)
		if len(cuts) > 0 {
			n = min(max(int(cuts[k%len(cuts)]), 1), len(p))
		}
		gn, gerr := dw.Write(p[:n])
		wn, werr := ref.Write(p[:n])
		if gn != wn || gerr != werr {
			t.Fatalf("Write #%d (%q) = %d, %v; reference %d, %v", k, p[:n], gn, gerr, wn, werr)
		}
		if gerr == nil && dw.Size() != ref.Size() {
			t.Fatalf("after Write #%d: Size = %d, reference %d", k, dw.Size(), ref.Size())
		}
		p = p[n:]
	}
	if abort {
		dw.Abort()
		ref.Abort()
	} else if gerr, werr := dw.Close(), ref.Close(); gerr != werr {
		t.Fatalf("Close = %v, reference %v", gerr, werr)
	}
	if !bytes.Equal(got.buf.Bytes(), want.buf.Bytes()) {
		t.Fatalf("input %q cut %v: wrote\n%q\nreference\n%q", in, cuts, got.buf.Bytes(), want.buf.Bytes())
	}
	if got.buf.Len() < lim && !abort && dw.Size() != ref.Size() {
		t.Fatalf("Size = %d, reference %d", dw.Size(), ref.Size())
	}
	if _, err := dw.Write([]byte("x")); err == nil {
		t.Fatal("Write after Close/Abort succeeded")
	}
}

// FuzzDotWriterDiff: DotWriter behaves exactly as the implementation it
// replaced, kept as its general path (newSlowDotWriter), for any input cut into any Writes, with or
// without a failing underlying writer.
func FuzzDotWriterDiff(f *testing.F) {
	for _, tt := range dotCases {
		f.Add([]byte(tt.in), []byte{}, uint8(0), int16(-1))
		f.Add([]byte(tt.in), []byte{1}, uint8(0), int16(-1))
	}
	f.Add([]byte("a\r\nb\r"), []byte{5, 1}, uint8(0), int16(-1))
	f.Add([]byte("x\r\n.y\r\nz\rw\r\n\n.\r"), []byte{3, 7, 2}, uint8(0), int16(9))
	f.Add([]byte("0123456789abcdef"), []byte{4, 4, 8}, uint8(1), int16(-1))
	f.Add(testkit.DotText(400, "\r\n"), []byte{200, 13}, uint8(2), int16(300))
	f.Fuzz(func(t *testing.T, in, cuts []byte, mode uint8, limit int16) {
		diffDotWriter(t, diffInput(in, mode), cuts, int(limit), mode&2 != 0)
	})
}

// TestDotWriterDiffRandom runs the differential check on random texts of
// line ends, dots and letters, and on the benchmark texts with a lone CR or
// a bare LF planted, cut at random, in every run (the fuzz target explores
// further with -fuzz).
func TestDotWriterDiffRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	iters := 3000
	if testing.Short() {
		iters = 300
	}
	for it := 0; it < iters; it++ {
		in := make([]byte, rng.Intn(300))
		for i := range in {
			in[i] = "\r\n.ab"[rng.Intn(5)]
		}
		cuts := make([]byte, rng.Intn(4))
		rng.Read(cuts)
		diffDotWriter(t, in, cuts, -1, false)
		diffDotWriter(t, in, cuts, rng.Intn(len(in)*2+2), it%2 == 0)
	}
	for _, eol := range []string{"\r\n", "\n"} {
		base := testkit.DotText(20_000, eol)
		for it := 0; it < 200; it++ {
			in := bytes.Clone(base)
			for k := rng.Intn(3); k > 0; k-- {
				in[rng.Intn(len(in))] = "\r\n."[rng.Intn(3)]
			}
			cuts := []byte{byte(rng.Intn(256)), byte(rng.Intn(256))}
			if it%3 == 0 {
				cuts = nil // one Write
			}
			diffDotWriter(t, in, cuts, -1, false)
		}
	}
}

// newSlowDotWriter returns a DotWriter whose every Write takes the general
// path (writeSlow, the algorithm before the one-scan-per-line fast path):
// the reference the differential tests compare the fast path against, and
// the baseline of BenchmarkDotWriterRef*.
func newSlowDotWriter(w io.Writer) slowDotWriter {
	return slowDotWriter{NewDotWriter(w)}
}

type slowDotWriter struct{ *DotWriter }

func (s slowDotWriter) Write(p []byte) (int, error) {
	i, err := s.begin(p)
	if err != nil {
		return 0, err
	}
	return s.writeSlow(p, i, s.atLineStart)
}
