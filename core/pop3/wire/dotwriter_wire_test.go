package wire

import (
	"bufio"
	"bytes"
	"io"
	"math/rand"
	"testing"
)

// mailText is wire-form text shaped like the benchmarks' mail (the fake
// store's: 444 lines and 34 dots in 20 KB): lines of 0 to 90 octets,
// about 45 on average, one in fifteen ending in "." and one in twenty
// starting with ".".
func mailText(rng *rand.Rand, size int) []byte {
	var b bytes.Buffer
	for b.Len() < size {
		n := rng.Intn(91)
		line := make([]byte, n)
		for i := range line {
			line[i] = "abcdefgh ijklmn"[rng.Intn(15)]
		}
		if n > 0 && rng.Intn(15) == 0 {
			line[n-1] = '.'
		}
		if n > 0 && rng.Intn(20) == 0 {
			line[0] = '.'
		}
		b.Write(line)
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// writeAll writes in to dw cut into Writes of the lengths in cuts (cycled;
// 0 stands for 1) and closes it.
func writeAll(t *testing.T, dw *DotWriter, in, cuts []byte) {
	t.Helper()
	for k, p := 0, in; len(p) > 0; k++ {
		n := len(p)
		if len(cuts) > 0 {
			n = min(max(int(cuts[k%len(cuts)]), 1), len(p))
		}
		if m, err := dw.Write(p[:n]); m != n || err != nil {
			t.Fatalf("Write = %d, %v", m, err)
		}
		p = p[n:]
	}
	if err := dw.Close(); err != nil {
		t.Fatal(err)
	}
}

// checkWireForm writes in through a DotWriter reset with ResetWireForm.
// Whatever in is, the reply must be safe: it ends with CRLF and the
// terminator, and before it every "." that follows a CR, an LF or nothing
// is doubled, so no line can be taken for the end of the reply. When in is
// in wire form, the reply must be exactly the general writer's.
func checkWireForm(t *testing.T, in, cuts []byte) {
	t.Helper()
	var got, want bytes.Buffer
	var dw DotWriter
	dw.ResetWireForm(&got)
	writeAll(t, &dw, in, cuts)
	out := got.Bytes()
	body, ok := bytes.CutSuffix(out, []byte("\r\n.\r\n"))
	if !ok && !bytes.Equal(out, []byte(".\r\n")) {
		t.Fatalf("input %q cut %v: reply %q does not end with CRLF . CRLF", in, cuts, out)
	}
	for k := 0; k < len(body) && ok; k++ {
		if body[k] == '.' && (k == 0 || body[k-1] == '\r' || body[k-1] == '\n') {
			if k+1 >= len(body) || body[k+1] != '.' {
				t.Fatalf("input %q cut %v: reply %q has an unstuffed \".\" at %d", in, cuts, out, k)
			}
			k++
		}
	}
	if !isWireForm(in) {
		return
	}
	writeAll(t, NewDotWriter(&want), in, nil)
	if !bytes.Equal(out, want.Bytes()) {
		t.Fatalf("wire-form input %q cut %v: wrote\n%q\nthe general writer\n%q", in, cuts, out, want.Bytes())
	}
	if dw.Size() != int64(len(in)) {
		t.Fatalf("Size = %d, want %d", dw.Size(), len(in))
	}
}

// isWireForm reports whether p has CRLF line ends only, the last line
// ended (or p is empty).
func isWireForm(p []byte) bool {
	if len(p) > 0 && !bytes.HasSuffix(p, []byte("\r\n")) {
		return false
	}
	return bytes.Count(p, []byte("\r")) == bytes.Count(p, []byte("\r\n")) &&
		bytes.Count(p, []byte("\n")) == bytes.Count(p, []byte("\r\n"))
}

func TestDotWriterWireForm(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	iters := 2000
	if testing.Short() {
		iters = 200
	}
	for it := 0; it < iters; it++ {
		in := mailText(rng, rng.Intn(2000))
		cuts := make([]byte, rng.Intn(4))
		rng.Read(cuts)
		checkWireForm(t, in, cuts)
		// Not in wire form after all: a lone CR, a bare LF or a dot planted.
		for k := rng.Intn(3) + 1; k > 0 && len(in) > 0; k-- {
			in[rng.Intn(len(in))] = "\r\n."[rng.Intn(3)]
		}
		checkWireForm(t, in, cuts)
		// Random text of line ends and dots.
		in = make([]byte, rng.Intn(200))
		for i := range in {
			in[i] = "\r\n.ab"[rng.Intn(5)]
		}
		checkWireForm(t, in, cuts)
	}
	for _, in := range []string{"", "\r\n", ".\r\n", "a\rb\nc", "a\rb\n.\r\n", "a\n\r.\r\n", "x\r\n\n.", "\r\r\n\n.\r\n"} {
		checkWireForm(t, []byte(in), nil)
		checkWireForm(t, []byte(in), []byte{1})
	}
}

// FuzzDotWriterWireForm: the checks of checkWireForm on any input cut into
// any Writes.
func FuzzDotWriterWireForm(f *testing.F) {
	f.Add([]byte("a\r\n.b\r\n"), []byte{}, uint8(0))
	f.Add([]byte("a\rb\n.\r\n"), []byte{2}, uint8(1))
	f.Fuzz(func(t *testing.T, in, cuts []byte, mode uint8) {
		checkWireForm(t, diffInput(in, mode), cuts)
	})
}

// BenchmarkDotWriterMail20KB writes 20 KB of mail-shaped text (mailText)
// in one Write, with the general writer and reset for wire form.
func BenchmarkDotWriterMail20KB(b *testing.B) {
	msg := mailText(rand.New(rand.NewSource(1)), 20_000)
	bw := bufio.NewWriterSize(io.Discard, 64<<10)
	for _, mode := range []string{"general", "wireform"} {
		b.Run(mode, func(b *testing.B) {
			var dw DotWriter
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				if mode == "general" {
					dw.Reset(bw)
				} else {
					dw.ResetWireForm(bw)
				}
				dw.Write(msg)
				dw.Close()
			}
		})
	}
}

// cutAfterCRs returns the Write lengths that cut in right after its CRs,
// every step-th one: each Write but the last ends in the CR of a CRLF.
func cutAfterCRs(in []byte, step int) []int {
	var cuts []int
	last, seen := 0, 0
	for i, c := range in {
		if c == '\r' {
			if seen++; seen%step == 0 {
				cuts = append(cuts, i+1-last)
				last = i + 1
			}
		}
	}
	return append(cuts, len(in)-last)
}

// TestDotWriterWireFormSplitCRLF: a wire-form message whose Writes end
// between the CR and the LF of a line end stays on the wire-form path and
// is written exactly as the general writer writes it.
func TestDotWriterWireFormSplitCRLF(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for _, step := range []int{1, 2, 7, 50} {
		in := mailText(rng, 5000)
		var got, want bytes.Buffer
		var dw DotWriter
		dw.ResetWireForm(&got)
		p := in
		for _, n := range cutAfterCRs(in, step) {
			if m, err := dw.Write(p[:n]); m != n || err != nil {
				t.Fatalf("Write = %d, %v", m, err)
			}
			p = p[n:]
		}
		if !dw.wireForm {
			t.Errorf("step %d: a CRLF split between Writes left the wire-form path", step)
		}
		if err := dw.Close(); err != nil {
			t.Fatal(err)
		}
		writeAll(t, NewDotWriter(&want), in, nil)
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("step %d: wrote\n%q\nthe general writer\n%q", step, got.Bytes(), want.Bytes())
		}
		if dw.Size() != int64(len(in)) {
			t.Fatalf("step %d: Size = %d, want %d", step, dw.Size(), len(in))
		}
	}
	// A held CR that turns out to be a lone one, and one at the very end.
	for _, tc := range [][]string{{"a\r", "b\r\n"}, {"a\r\n.b\r", "\n.\r"}, {"a\r", "\r\n"}, {"\r", "\n", ".\r", "\n"}} {
		var got, want bytes.Buffer
		var dw DotWriter
		dw.ResetWireForm(&got)
		for _, w := range tc {
			dw.Write([]byte(w))
		}
		dw.Close()
		gw := NewDotWriter(&want)
		for _, w := range tc {
			gw.Write([]byte(w))
		}
		gw.Close()
		if !bytes.Equal(got.Bytes(), want.Bytes()) || dw.Size() != gw.Size() {
			t.Errorf("Writes %q: wrote %q (Size %d), the general writer %q (Size %d)", tc, got.Bytes(), dw.Size(), want.Bytes(), gw.Size())
		}
	}
}

// BenchmarkDotWriterMail1MiBSplit writes 1 MiB of mail-shaped text in
// Writes of ~64 KiB that each end between the CR and the LF of a line end
// (what a store's chunk boundaries do now and then).
func BenchmarkDotWriterMail1MiBSplit(b *testing.B) {
	msg := mailText(rand.New(rand.NewSource(1)), 1<<20)
	cuts := cutAfterCRs(msg, 1400) // ~45-octet lines: a cut every ~64 KiB
	bw := bufio.NewWriterSize(io.Discard, 64<<10)
	var dw DotWriter
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		dw.ResetWireForm(bw)
		p := msg
		for _, n := range cuts {
			dw.Write(p[:n])
			p = p[n:]
		}
		dw.Close()
	}
}
