package storetest

import (
	"bytes"
	"fmt"
	"io"
	"sync"
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
			t[r] = int16(0x80 + (r-200)*127/55)
		}
	}
	return t
}()

// genCRLF is the genTable entry that emits a CR followed by an LF.
const genCRLF = -1

// Pattern blocks: a generated stream is a sequence of genBlock-octet slices
// of one shared pseudo-random pattern, each starting at an offset derived
// from the seed and the block's index. Copying slices keeps generation fast
// even under the race detector (which slows octet-at-a-time loops ~50×),
// and blocks at different offsets still catch reordered or repeated chunks.
const (
	genBlock   = 4 << 10
	genPattern = 1 << 20
)

var (
	patternOnce sync.Once
	pattern     []byte // genPattern+genBlock octets
)

func genPatternBytes() []byte {
	patternOnce.Do(func() {
		pattern = make([]byte, genPattern+genBlock)
		x := uint64(0x9e3779b97f4a7c15)
		pending := false
		for i := range pattern {
			if pending {
				pattern[i] = '\n'
				pending = false
				continue
			}
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			switch c := genTable[byte(x>>32)]; c {
			case genCRLF:
				pattern[i] = '\r'
				pending = true
			default:
				pattern[i] = byte(c)
			}
		}
	})
	return pattern
}

// mix64 is splitmix64's finalizer: a cheap, well-spread hash of x.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// genReader yields n octets determined by seed. Two readers with the same
// seed and n yield the same octets; nothing is buffered, so a 50 MiB
// message costs no memory.
type genReader struct {
	seed   uint64
	n, off int64
}

func newGen(seed uint64, n int64) *genReader {
	return &genReader{seed: mix64(seed), n: n}
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.off >= g.n {
		return 0, io.EOF
	}
	if rem := g.n - g.off; int64(len(p)) > rem {
		p = p[:rem]
	}
	pat := genPatternBytes()
	done := 0
	for done < len(p) {
		k := uint64(g.off / genBlock)
		within := int(g.off % genBlock)
		start := int(mix64(g.seed^k) % genPattern)
		n := copy(p[done:], pat[start+within:start+genBlock])
		done += n
		g.off += int64(n)
	}
	return done, nil
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
