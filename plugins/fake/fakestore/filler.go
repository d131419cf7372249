package fakestore

import (
	"bufio"
	"context"
	"io"
	"strings"
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
type filler struct {
	r     *rng
	words []string
	left  int64  // octets not yet put into line
	line  []byte // the current line
	pos   int    // octets of line already read
}

func newFiller(seed uint64, n int64, ascii bool) *filler {
	f := &filler{r: newRNG(seed), left: n, words: utf8Words, line: make([]byte, 0, fillMaxLine+3)}
	if ascii {
		f.words = asciiWords
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
	f.line, f.pos = f.line[:0], 0
	final := f.left <= fillMaxLine+2
	width := fillMinLine + f.r.intn(fillMaxLine-fillMinLine+1)
	if final {
		width = int(f.left - 2)
	}
	switch f.r.intn(20) {
	case 0:
		if !final {
			width = 0 // an empty line
		}
	case 1:
		if width > 0 {
			f.line = append(f.line, '.')
		}
	}
	for len(f.line) < width {
		w := f.words[f.r.intn(len(f.words))]
		sep := 0
		if len(f.line) > 0 && f.line[len(f.line)-1] != '.' {
			sep = 1
		}
		if len(f.line)+sep+len(w) > width {
			break
		}
		if sep == 1 {
			f.line = append(f.line, ' ')
		}
		f.line = append(f.line, w...)
	}
	if final {
		for len(f.line) < width {
			f.line = append(f.line, 'x')
		}
	} else if f.left-int64(len(f.line)+2) == 1 {
		f.line = append(f.line, '.') // never leave a single octet for the last line
	}
	f.line = append(f.line, '\r', '\n')
	f.left -= int64(len(f.line))
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
