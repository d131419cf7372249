package wire

import (
	"bufio"
	"bytes"
	"io"
	"testing"

	"github.com/izyware/izypop3/internal/testkit"
)

func benchDotWriter(b *testing.B, eol string) {
	msg := testkit.DotText(1<<20, eol)
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
	dw.Write(testkit.DotText(1<<20, "\r\n"))
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

// dotWriterUnderTest is what the 20 KB benchmarks drive: DotWriter or the
// reference it replaced.
type dotWriterUnderTest interface {
	io.Writer
	Close() error
}

// benchDotWriter20KB writes a 20 KB message (the size of a typical mail)
// in one Write, as a RETR from a store that hands the message over whole.
func benchDotWriter20KB(b *testing.B, eol string, newDW func(io.Writer) dotWriterUnderTest) {
	msg := testkit.DotText(20_000, eol)
	bw := bufio.NewWriterSize(io.Discard, 64<<10)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		dw := newDW(bw)
		dw.Write(msg)
		dw.Close()
	}
}

func newDW(w io.Writer) dotWriterUnderTest  { return NewDotWriter(w) }
func newRef(w io.Writer) dotWriterUnderTest { return newSlowDotWriter(w) }

func BenchmarkDotWriter20KBCRLF(b *testing.B)    { benchDotWriter20KB(b, "\r\n", newDW) }
func BenchmarkDotWriter20KBLF(b *testing.B)      { benchDotWriter20KB(b, "\n", newDW) }
func BenchmarkDotWriterRef20KBCRLF(b *testing.B) { benchDotWriter20KB(b, "\r\n", newRef) }
func BenchmarkDotWriterRef20KBLF(b *testing.B)   { benchDotWriter20KB(b, "\n", newRef) }

func BenchmarkParseCommand(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseCommand("retr 1"); err != nil {
			b.Fatal(err)
		}
	}
}
