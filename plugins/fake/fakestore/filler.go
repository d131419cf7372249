package fakestore

import (
	"bufio"
	"context"
	"io"
	"strings"
	"sync"
)

// Filler line lengths in octets without the CRLF (RFC 5322 §2.1.1: lines
// SHOULD be no more than 78 characters).
const (
	fillMinLine = 20
	fillMaxLine = 78
)

var (
	asciiWords = strings.Fields("lorem ipsum dolor sit amet consectetur adipiscing elit sed do " +
		"eiusmod tempor incididunt ut labore et dolore magna aliqua mail store message octet " +
		"header body line dot retrieve unique maildrop server client")
	utf8Words = append(strings.Fields("café naïve Grüße smørrebrød 日本語 für élève Ωmega 📬 déjà-vu"), asciiWords...)
)

// filler yields n octets of text in CRLF lines: words (UTF-8 ones unless
// ascii), now and then an empty line or a line starting with ".". Every
// line, including the last, ends with CRLF; n must not be 1.
//
// Lines are drawn from a fixed pool (built once from a fixed seed), one
// random number per line, so a filler streams at memory speed; only the
// last line is built to measure.
type filler struct {
	r     *rng
	pool  [][]byte
	words []string // for the last line
	left  int64    // octets not yet put into line
	line  []byte   // the current line (a pool line or buf)
	pos   int      // octets of line already read
	buf   []byte
}

// linePoolSize is how many distinct lines a filler draws from.
const linePoolSize = 4096

var (
	poolOnce            sync.Once
	utf8Pool, asciiPool [][]byte
)

func linePools() (utf8Lines, asciiLines [][]byte) {
	poolOnce.Do(func() {
		build := func(words []string, seed uint64) [][]byte {
			g := &lineGen{r: newRNG(seed), words: words}
			pool := make([][]byte, linePoolSize)
			for i := range pool {
				pool[i] = g.line(nil, -1)
			}
			return pool
		}
		utf8Pool = build(utf8Words, 1)
		asciiPool = build(asciiWords, 2)
	})
	return utf8Pool, asciiPool
}

func newFiller(seed uint64, n int64, ascii bool) *filler {
	u, a := linePools()
	f := &filler{r: newRNG(seed), left: n, pool: u, words: utf8Words, buf: make([]byte, 0, fillMaxLine+3)}
	if ascii {
		f.pool, f.words = a, asciiWords
	}
	return f
}

func (f *filler) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if f.pos == len(f.line) {
			if f.left <= 0 {
				if n == 0 {
					return 0, io.EOF
				}
				return n, nil
			}
			f.nextLine()
		}
		c := copy(p[n:], f.line[f.pos:])
		f.pos += c
		n += c
	}
	return n, nil
}

func (f *filler) nextLine() {
	f.pos = 0
	if f.left <= fillMaxLine+2 {
		// The last line: exactly the octets left, words and padding.
		g := lineGen{r: f.r, words: f.words}
		f.line = g.line(f.buf[:0], int(f.left-2))
	} else {
		f.line = f.pool[f.r.intn(len(f.pool))]
		if f.left-int64(len(f.line)) == 1 {
			// Never leave a single octet for the last line: lengthen
			// this one by a dot.
			f.buf = append(append(f.buf[:0], f.line[:len(f.line)-2]...), '.', '\r', '\n')
			f.line = f.buf
		}
	}
	f.left -= int64(len(f.line))
}

// lineGen builds filler lines from words.
type lineGen struct {
	r     *rng
	words []string
}

// line appends a CRLF-terminated line to b. With width < 0 the line has a
// random width (now and then empty or starting with "."); otherwise exactly
// width octets before the CRLF.
func (g *lineGen) line(b []byte, width int) []byte {
	exact := width >= 0
	if !exact {
		width = fillMinLine + g.r.intn(fillMaxLine-fillMinLine+1)
	}
	start := len(b)
	switch g.r.intn(20) {
	case 0:
		if !exact {
			width = 0 // an empty line
		}
	case 1:
		if width > 0 {
			b = append(b, '.')
		}
	}
	for len(b)-start < width {
		w := g.words[g.r.intn(len(g.words))]
		sep := 0
		if len(b) > start && b[len(b)-1] != '.' {
			sep = 1
		}
		if len(b)-start+sep+len(w) > width {
			break
		}
		if sep == 1 {
			b = append(b, ' ')
		}
		b = append(b, w...)
	}
	if exact {
		for len(b)-start < width {
			b = append(b, 'x')
		}
	}
	return append(b, '\r', '\n')
}

// ctxReader fails reads once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// topReader yields the header, the empty line that ends it, and at most
// lines lines of the body of r (a TOP prefix, RFC 1939 §7). A line ends at
// LF (a CRLF ends at its LF); a message without an empty line is all header.
type topReader struct {
	br     *bufio.Reader
	lines  int  // body lines still allowed
	inBody bool // the empty line has been read
	mid    bool // inside a line longer than br's buffer
	done   bool
	cur    []byte // octets of the current line not yet returned
}

func newTopReader(r io.Reader, lines int) *topReader {
	return &topReader{br: bufio.NewReader(r), lines: max(lines, 0)}
}

func (t *topReader) Read(p []byte) (int, error) {
	for len(t.cur) == 0 {
		if t.done || (t.inBody && !t.mid && t.lines == 0) {
			return 0, io.EOF
		}
		line, err := t.br.ReadSlice('\n')
		full := err == bufio.ErrBufferFull
		if err != nil && !full && err != io.EOF {
			return 0, err
		}
		if err == io.EOF {
			t.done = true
		}
		if len(line) == 0 {
			continue
		}
		if !t.mid {
			if t.inBody {
				t.lines--
			} else if string(line) == "\n" || string(line) == "\r\n" {
				t.inBody = true
			}
		}
		t.mid = full
		t.cur = line
	}
	n := copy(p, t.cur)
	t.cur = t.cur[n:]
	return n, nil
}
