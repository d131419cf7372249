// Package mailgen generates varied, deterministic test mail: the shapes
// that break POP3 clients, servers and stores (lines starting with ".", a
// lone "." line, 8-bit and binary-ish octets, multipart with base64 parts,
// 998-octet lines, bare LF line ends, no final line end, an empty body).
// It is used by the tests and benchmarks of the fetcher.
package mailgen

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
)

// rng is a small deterministic generator (splitmix64).
type rng struct{ x uint64 }

func (r *rng) next() uint64 {
	r.x += 0x9e3779b97f4a7c15
	z := r.x
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

// Kinds of generated messages, cycled through by Message.
const (
	KindPlain      = iota // ASCII text
	KindDots              // lines starting with ".", a lone "." line
	KindEightBit          // 8-bit text (UTF-8 and Latin-1 octets)
	KindBinaryish         // octets 0x01-0xFF except CR and LF in the body
	KindMultipart         // multipart/mixed with a text and a base64 part
	KindNoFinalEOL        // the last line has no line end
	KindLongLines         // 998-octet lines, one starting with "."
	KindBareLF            // LF line ends only
	KindEmptyBody         // header and the empty line only
	numKinds
)

// Message returns message i of a set: kind i%9, about size octets (at
// least a few hundred), unique content (its Message-ID and a line of its
// body name i and seed).
func Message(seed uint64, i, size int) []byte {
	r := &rng{x: seed*1000003 + uint64(i)}
	kind := i % numKinds
	var b bytes.Buffer
	eol := "\r\n"
	if kind == KindBareLF {
		eol = "\n"
	}
	hdr := func(k, v string) { b.WriteString(k + ": " + v + eol) }
	hdr("From", fmt.Sprintf("Sender %d <sender%d@example.invalid>", i%7, i%7))
	hdr("To", "rcpt@example.invalid")
	hdr("Subject", fmt.Sprintf("test message %d kind %d", i, kind))
	hdr("Date", "Mon, 2 Jan 2006 15:04:05 +0000")
	hdr("Message-ID", fmt.Sprintf("<%d.%d@mailgen.invalid>", seed, i))
	hdr("MIME-Version", "1.0")
	switch kind {
	case KindMultipart:
		hdr("Content-Type", `multipart/mixed; boundary="b-`+fmt.Sprint(i)+`"`)
	case KindEightBit, KindBinaryish:
		hdr("Content-Type", "text/plain; charset=utf-8")
		hdr("Content-Transfer-Encoding", "8bit")
	default:
		hdr("Content-Type", "text/plain; charset=us-ascii")
	}
	b.WriteString(eol)
	fmt.Fprintf(&b, "message %d of set %d%s", i, seed, eol)
	fill := func(line func() string) {
		for b.Len() < size {
			b.WriteString(line())
			b.WriteString(eol)
		}
	}
	words := func(n int) string {
		w := make([]string, n)
		for k := range w {
			w[k] = vocabulary[r.intn(len(vocabulary))]
		}
		return strings.Join(w, " ")
	}
	switch kind {
	case KindPlain, KindBareLF:
		b.WriteString("." + eol) // a lone dot line: must be stuffed
		fill(func() string { return words(4 + r.intn(10)) })
		b.WriteString(".." + eol + ".end" + eol)
	case KindDots:
		fill(func() string {
			switch r.intn(4) {
			case 0:
				return "."
			case 1:
				return ".." + words(3)
			case 2:
				return "." + words(5)
			}
			return words(6)
		})
	case KindEightBit:
		fill(func() string {
			return words(3) + " Grüße, naïve café — ½ " + string([]byte{0xe9, 0xfc, 0xa0}) + " " + words(2)
		})
	case KindBinaryish:
		fill(func() string {
			n := 20 + r.intn(60)
			line := make([]byte, n)
			for k := range line {
				c := byte(1 + r.intn(255))
				if c == '\r' || c == '\n' {
					c = 'x'
				}
				line[k] = c
			}
			return string(line)
		})
	case KindMultipart:
		bd := "--b-" + fmt.Sprint(i)
		b.WriteString("preamble" + eol + bd + eol + "Content-Type: text/plain" + eol + eol + words(8) + eol + "." + eol + bd + eol)
		b.WriteString("Content-Type: application/octet-stream" + eol + "Content-Transfer-Encoding: base64" + eol + eol)
		raw := make([]byte, max(size*3/4-b.Len(), 64))
		for k := range raw {
			raw[k] = byte(r.next())
		}
		enc := base64.StdEncoding.EncodeToString(raw)
		for len(enc) > 76 {
			b.WriteString(enc[:76] + eol)
			enc = enc[76:]
		}
		b.WriteString(enc + eol + bd + "--" + eol + "epilogue" + eol)
	case KindNoFinalEOL:
		fill(func() string { return words(8) })
		b.WriteString("no final line end")
	case KindLongLines:
		fill(func() string {
			if r.intn(3) == 0 {
				return "." + strings.Repeat("d", 997)
			}
			return strings.Repeat(string(rune('a'+r.intn(26))), 998)
		})
	case KindEmptyBody:
		// Only the header and the "message i" line; size is ignored.
	}
	return b.Bytes()
}

// Set returns n messages of about size octets each.
func Set(seed uint64, n, size int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = Message(seed, i, size)
	}
	return out
}

// Broken returns a message go-message cannot parse: a multipart message
// whose closing boundary never comes.
func Broken(i int) []byte {
	return []byte(fmt.Sprintf("From: x@example.invalid\r\nSubject: broken %d\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\nContent-Type: text/plain\r\n\r\nno end %d\r\n", i, i))
}

// WireForm is a message as a POP3 server sends it, before byte-stuffing:
// every line end (CRLF or bare LF) becomes CRLF, and a non-empty message
// that does not end with a line end gets a final CRLF. It is what a
// fetcher stores.
func WireForm(raw []byte) []byte {
	out := make([]byte, 0, len(raw)+len(raw)/32+2)
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '\n' && (i == 0 || raw[i-1] != '\r') {
			out = append(out, '\r', '\n')
			continue
		}
		out = append(out, c)
	}
	if len(out) > 0 && !bytes.HasSuffix(out, []byte("\r\n")) {
		out = append(out, '\r', '\n')
	}
	return out
}

var vocabulary = strings.Fields(`the quick brown fox jumps over lazy dog mail store
fetch exactly once durable barrier pipeline maildrop server client message header body
line octet stuffing terminator unique identifier size checksum dovecot localfs`)
