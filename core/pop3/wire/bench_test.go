package wire

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
)

func benchText(size int, eol string) []byte {
	var b bytes.Buffer
	line := strings.Repeat("abcdefghij", 7) + "012345" + eol
	for i := 0; b.Len() < size; i++ {
		if i%50 == 0 {
			b.WriteString("." + line[1:])
		} else {
			b.WriteString(line)
		}
	}
	return b.Bytes()
}

func benchDotWriter(b *testing.B, eol string) {
	msg := benchText(1<<20, eol)
	bw := bufio.NewWriterSize(io.Discard, 64<<10)
	b.SetBytes(int64(len(msg)))
	for i := 0; i < b.N; i++ {
		dw := NewDotWriter(bw)
		for p := msg; len(p) > 0; {
			n := min(len(p), 64<<10)
			dw.Write(p[:n])
			p = p[n:]
		}
		dw.Close()
	}
}

func BenchmarkDotWriterCRLF(b *testing.B) { benchDotWriter(b, "\r\n") }
func BenchmarkDotWriterLF(b *testing.B)   { benchDotWriter(b, "\n") }

func BenchmarkDotReader(b *testing.B) {
	var wire bytes.Buffer
	dw := NewDotWriter(&wire)
	dw.Write(benchText(1<<20, "\r\n"))
	dw.Close()
	data := wire.Bytes()
	r := bytes.NewReader(data)
	br := bufio.NewReaderSize(r, 64<<10)
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		r.Reset(data)
		br.Reset(r)
		io.Copy(io.Discard, NewDotReader(br))
	}
}
