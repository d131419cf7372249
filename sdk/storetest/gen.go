package storetest

import (
	"bytes"
	"fmt"
	"io"
)

// genTable maps a pseudo-random octet to the octet a generated message gets.
// The distribution gives lines of about 40 octets, mostly CRLF-terminated,
// with bare LFs, lone CRs, NULs, lines starting with "." and 8-bit octets
// mixed in: everything a store must carry unchanged.
var genTable = func() (t [256]int16) {
	for r := range t {
		switch {
		case r < 150:
			t[r] = int16('a' + r%26)
		case r < 180:
			t[r] = ' '
		case r < 186:
			t[r] = genCRLF
		case r == 186:
			t[r] = '\n'
		case r == 187:
			t[r] = '\r'
		case r == 188:
			t[r] = 0
		case r < 200:
			t[r] = '.'
		default:
			t[r] = int16(0x80 + r - 200)
		}
	}
	return t
}()

// genCRLF is the genTable entry that emits a CR followed by an LF.
const genCRLF = -1

// genReader yields n octets determined by seed (see genTable). Two readers
// with the same seed and n yield the same octets; nothing is buffered
// beyond one word of random state, so a 50 MiB message costs no memory.
type genReader struct {
	n, off  int64
	x       uint64 // xorshift64 state
	word    uint64 // random octets not yet used
	left    int    // octets left in word
	pending bool   // an LF is owed after a CR of a CRLF
}

func newGen(seed uint64, n int64) *genReader {
	// splitmix64 of the seed, so close seeds give unrelated streams and
	// the xorshift state is never zero.
	z := seed + 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	if z == 0 {
		z = 1
	}
	return &genReader{n: n, x: z}
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.off >= g.n {
		return 0, io.EOF
	}
	if rem := g.n - g.off; int64(len(p)) > rem {
		p = p[:rem]
	}
	for i := range p {
		if g.pending {
			p[i] = '\n'
			g.pending = false
			continue
		}
		if g.left == 0 {
			g.x ^= g.x << 13
			g.x ^= g.x >> 7
			g.x ^= g.x << 17
			g.word = g.x
			g.left = 8
		}
		r := byte(g.word)
		g.word >>= 8
		g.left--
		switch c := genTable[r]; c {
		case genCRLF:
			p[i] = '\r'
			g.pending = true
		default:
			p[i] = byte(c)
		}
	}
	g.off += int64(len(p))
	return len(p), nil
}

// failingReader yields the octets of r and then, instead of io.EOF, err.
type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

// countingReader counts the octets read and whether io.EOF was seen.
type countingReader struct {
	r   io.Reader
	n   int64
	eof bool
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err == io.EOF {
		c.eof = true
	}
	return n, err
}

// compareBlock is the read size used when comparing two streams.
const compareBlock = 64 << 10

// compareStreams reads got and want to the end and reports where they first
// differ. It returns a nil error when they are equal octet for octet.
func compareStreams(got, want io.Reader) (int64, error) {
	gb := make([]byte, compareBlock)
	wb := make([]byte, compareBlock)
	var off int64
	for {
		gn, gerr := io.ReadFull(got, gb)
		wn, werr := io.ReadFull(want, wb)
		if gerr != nil && gerr != io.EOF && gerr != io.ErrUnexpectedEOF {
			return off, fmt.Errorf("reading fetched body at offset %d: %w", off+int64(gn), gerr)
		}
		if werr != nil && werr != io.EOF && werr != io.ErrUnexpectedEOF {
			return off, fmt.Errorf("reading expected body: %w", werr)
		}
		m := min(gn, wn)
		if i := firstDiff(gb[:m], wb[:m]); i >= 0 {
			return off + int64(i), fmt.Errorf("bodies differ at offset %d: got %q, want %q",
				off+int64(i), excerpt(gb[:gn], i), excerpt(wb[:wn], i))
		}
		if gn != wn {
			return off + int64(m), fmt.Errorf("fetched body is %s than expected: they agree up to offset %d",
				map[bool]string{true: "shorter", false: "longer"}[gn < wn], off+int64(m))
		}
		off += int64(gn)
		if gn < len(gb) {
			return off, nil
		}
	}
}

func firstDiff(a, b []byte) int {
	if bytes.Equal(a, b) {
		return -1
	}
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

// excerpt returns up to 16 octets of b starting at i, for error messages.
func excerpt(b []byte, i int) []byte {
	return b[i:min(len(b), i+16)]
}
