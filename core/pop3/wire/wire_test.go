package wire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/izyware/izypop3/internal/testkit"
)

// stuff is the reference byte-stuffing of normalised text, plus the terminator.
func stuff(norm []byte) []byte {
	var out []byte
	for _, line := range bytes.SplitAfter(norm, []byte("\r\n")) {
		if len(line) > 0 && line[0] == '.' {
			out = append(out, '.')
		}
		out = append(out, line...)
	}
	return append(out, ".\r\n"...)
}

func TestLineReader(t *testing.T) {
	long := strings.Repeat("a", MaxCommandLine)
	in := "USER bob\r\n" + // CRLF
		"PASS x\n" + // bare LF
		long + "\r\n" + // exactly the limit: accepted
		long + "b\r\n" + // one over: refused, discarded
		strings.Repeat("c", 5000) + "\r\n" + // far over, spans buffer fills
		"STAT\r\n" +
		"a\rb\r\n" + // lone CR inside a line is kept
		"partial"
	lr := NewLineReader(bufio.NewReaderSize(strings.NewReader(in), 16), MaxCommandLine)
	want := []struct {
		line string
		err  error
	}{
		{"USER bob", nil},
		{"PASS x", nil},
		{long, nil},
		{"", ErrLineTooLong},
		{"", ErrLineTooLong},
		{"STAT", nil},
		{"a\rb", nil},
		{"", io.ErrUnexpectedEOF},
	}
	for i, w := range want {
		line, err := lr.ReadLine()
		if line != w.line || !errors.Is(err, w.err) {
			t.Fatalf("line %d: ReadLine() = %q, %v; want %q, %v", i, line, err, w.line, w.err)
		}
	}
	if _, err := lr.ReadLine(); err != io.EOF {
		t.Fatalf("ReadLine at end = %v, want io.EOF", err)
	}
}

func TestLineReaderLimitBoundary(t *testing.T) {
	for _, size := range []int{16, 64, 4096} {
		for n := MaxCommandLine - 2; n <= MaxCommandLine+3; n++ {
			for _, eol := range []string{"\r\n", "\n"} {
				in := strings.Repeat("x", n) + eol + "NOOP" + eol
				lr := NewLineReader(bufio.NewReaderSize(strings.NewReader(in), size), MaxCommandLine)
				line, err := lr.ReadLine()
				if n <= MaxCommandLine {
					if err != nil || len(line) != n {
						t.Errorf("buf %d, %d octets%q: got len %d, %v; want accepted", size, n, eol, len(line), err)
					}
				} else {
					var tl *LineTooLongError
					if !errors.As(err, &tl) || tl.Limit != MaxCommandLine {
						t.Errorf("buf %d, %d octets%q: got %v; want LineTooLongError", size, n, eol, err)
					}
				}
				if line, err := lr.ReadLine(); line != "NOOP" || err != nil {
					t.Errorf("buf %d, %d octets: next line = %q, %v; want NOOP", size, n, line, err)
				}
			}
		}
	}
}

func TestHasLine(t *testing.T) {
	br := bufio.NewReader(strings.NewReader("STAT\r\nLIS"))
	br.Peek(1)
	if !HasLine(br) {
		t.Error("HasLine with a full line buffered = false")
	}
	br.ReadSlice('\n')
	if HasLine(br) {
		t.Error("HasLine with a partial line buffered = true")
	}
	if HasLine(bufio.NewReader(strings.NewReader(""))) {
		t.Error("HasLine on empty = true")
	}
}

func TestParseCommand(t *testing.T) {
	tests := []struct {
		line string
		name string
		args []string
		bad  bool
	}{
		{line: "STAT", name: "STAT"},
		{line: "stat", name: "STAT"},
		{line: "LiSt 1", name: "LIST", args: []string{"1"}},
		{line: "TOP 1 10", name: "TOP", args: []string{"1", "10"}},
		{line: "PASS a b  c", name: "PASS", args: []string{"a", "b", "", "c"}},
		{line: "STAT ", name: "STAT", args: []string{""}},
		{line: "PASS pässwörd", name: "PASS", args: []string{"pässwörd"}},
		{line: "", bad: true},
		{line: " STAT", bad: true},
		{line: "ST\x00AT", bad: true},
		{line: "LIST\t1", bad: true},
		{line: "PASS a\rb", bad: true},
		{line: "NOOP\x7f", bad: true},
		{line: "SΤAT", bad: true},
		{line: strings.Repeat("A", MaxKeywordLength), name: strings.Repeat("A", MaxKeywordLength)},
		{line: strings.Repeat("A", MaxKeywordLength+1), bad: true},
		{line: "X" + strings.Repeat(" a", MaxArgs), name: "X", args: strings.Split(strings.Repeat("a ", MaxArgs-1)+"a", " ")},
		{line: "X" + strings.Repeat(" a", MaxArgs+1), bad: true},
	}
	for _, tt := range tests {
		cmd, err := ParseCommand(tt.line)
		if tt.bad {
			if !errors.Is(err, ErrSyntax) {
				t.Errorf("ParseCommand(%q) = %#v, %v; want ErrSyntax", tt.line, cmd, err)
			}
			continue
		}
		if err != nil || cmd.Name != tt.name || !equalArgs(cmd.Args, tt.args) {
			t.Errorf("ParseCommand(%q) = %#v, %v; want %q %q", tt.line, cmd, err, tt.name, tt.args)
		}
	}
	cmd, _ := ParseCommand("pass my secret ")
	if cmd.Rest() != "my secret " {
		t.Errorf("Rest() = %q, want %q", cmd.Rest(), "my secret ")
	}
}

func equalArgs(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// dotCases are shared by the DotWriter, DotReader, Size and TopWriter
// tests: in is a stored message, wire what RETR sends after "+OK".
var dotCases = []struct {
	name string
	in   string
	wire string
}{
	{"empty", "", ".\r\n"},
	{"crlf", "a\r\nb\r\n", "a\r\nb\r\n.\r\n"},
	{"no final newline", "a\r\nb", "a\r\nb\r\n.\r\n"},
	{"bare LF", "a\nb\n", "a\r\nb\r\n.\r\n"},
	{"lone CR", "a\rb\r", "a\r\nb\r\n.\r\n"},
	{"CR CR LF", "a\r\r\nb", "a\r\n\r\nb\r\n.\r\n"},
	{"LF CR", "a\n\rb", "a\r\n\r\nb\r\n.\r\n"},
	{"dot lines", ".\r\n..\r\n.a\r\nb.\r\n", "..\r\n...\r\n..a\r\nb.\r\n.\r\n"},
	{"dot first no newline", ".", "..\r\n.\r\n"},
	{"dot after bare LF", "a\n.b\n", "a\r\n..b\r\n.\r\n"},
	{"dot after lone CR", "a\r.b", "a\r\n..b\r\n.\r\n"},
	{"only newline", "\n", "\r\n.\r\n"},
	{"only CR", "\r", "\r\n.\r\n"},
	{"blank lines", "\r\n\r\n", "\r\n\r\n.\r\n"},
	{"binary", "\x00\xff\r\n", "\x00\xff\r\n.\r\n"},
}

func TestDotWriter(t *testing.T) {
	for _, tt := range dotCases {
		// Whole, and one octet per Write (state across calls).
		for _, chunk := range []int{0, 1, 2, 3} {
			var buf bytes.Buffer
			dw := NewDotWriter(&buf)
			writeChunks(t, dw, []byte(tt.in), chunk)
			if err := dw.Close(); err != nil {
				t.Fatal(err)
			}
			if buf.String() != tt.wire {
				t.Errorf("%s (chunk %d): wrote %q, want %q", tt.name, chunk, buf.String(), tt.wire)
			}
			if want := Size([]byte(tt.in)); dw.Size() != want {
				t.Errorf("%s (chunk %d): Size() = %d, want %d", tt.name, chunk, dw.Size(), want)
			}
		}
	}
}

func writeChunks(t *testing.T, w io.Writer, p []byte, chunk int) {
	t.Helper()
	if chunk <= 0 {
		chunk = len(p) + 1
	}
	for len(p) > 0 {
		n := min(chunk, len(p))
		if m, err := w.Write(p[:n]); m != n || err != nil {
			t.Fatalf("Write = %d, %v", m, err)
		}
		p = p[n:]
	}
}

func TestDotWriterAbort(t *testing.T) {
	var buf bytes.Buffer
	dw := NewDotWriter(&buf)
	dw.Write([]byte("partial message\r\nwithout"))
	dw.Abort()
	if err := dw.Close(); err == nil {
		t.Error("Close after Abort = nil, want an error")
	}
	if _, err := dw.Write([]byte("x")); err != ErrClosed {
		t.Errorf("Write after Abort = %v, want ErrClosed", err)
	}
	if got := buf.String(); got != "partial message\r\nwithout" {
		t.Errorf("after Abort wrote %q: no final CRLF or terminator may follow", got)
	}
}

type failWriter struct{ after int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, errors.New("broken pipe")
	}
	f.after--
	return len(p), nil
}

func TestDotWriterWriteError(t *testing.T) {
	dw := NewDotWriter(&failWriter{after: 1})
	dw.Write([]byte("a\r\n"))
	if _, err := dw.Write([]byte("b\r\n")); err == nil {
		t.Fatal("Write to a failing writer = nil error")
	}
	if err := dw.Close(); err == nil {
		t.Error("Close after a write error = nil, want the error")
	}
}

func TestDotReader(t *testing.T) {
	for _, tt := range dotCases {
		for _, size := range []int{16, 4096} {
			br := bufio.NewReaderSize(strings.NewReader(tt.wire+"+OK next\r\n"), size)
			got, err := io.ReadAll(NewDotReader(br))
			if err != nil {
				t.Errorf("%s: ReadAll: %v", tt.name, err)
			}
			if want := testkit.WireForm([]byte(tt.in)); !bytes.Equal(got, want) {
				t.Errorf("%s (buf %d): read %q, want %q", tt.name, size, got, want)
			}
			if rest, _ := io.ReadAll(br); string(rest) != "+OK next\r\n" {
				t.Errorf("%s: reader consumed past the terminator, rest %q", tt.name, rest)
			}
		}
	}
}

func TestDotReaderTolerant(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a\nb\n.\n", "a\r\nb\r\n"},        // bare LF server
		{"..a\r\n.\r\n", ".a\r\n"},         // stuffed
		{".a\r\n.\r\n", "a\r\n"},           // RFC: strip the dot of any non-terminator line
		{"a\r\n.\r\nafter", "a\r\n"},       // stops at the terminator
		{"x\r\n. \r\n.\r\n", "x\r\n \r\n"}, // ". " is not the terminator
		{"\r\n.\r\n", "\r\n"},              // empty line then terminator
		{".\r\n", ""},                      // empty body
	}
	for _, tt := range tests {
		got, err := io.ReadAll(NewDotReader(bufio.NewReader(strings.NewReader(tt.in))))
		if err != nil || string(got) != tt.want {
			t.Errorf("DotReader(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestDotReaderTruncated(t *testing.T) {
	for _, in := range []string{"", "a\r\n", "a\r\nb", "a\r\n.", "a\r\n..\r\n"} {
		_, err := io.ReadAll(NewDotReader(bufio.NewReader(strings.NewReader(in))))
		if err != io.ErrUnexpectedEOF {
			t.Errorf("DotReader(%q) error = %v, want io.ErrUnexpectedEOF", in, err)
		}
	}
}

// TestSize uses the cases of the size rule: empty → 0; CRLF, bare LF and
// lone CR each → 2; final CRLF added if missing.
func TestSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"", 0},
		{"a", 3},
		{"a\r\n", 3},
		{"a\n", 3},
		{"a\r", 3},
		{"\r\n", 2},
		{"\n", 2},
		{"\r", 2},
		{"\r\r", 4},
		{"\n\r", 4},
		{"\r\n\r\n", 4},
		{"a\r\nb", 6},
		{"a\nb\n", 6},
		{".a\r\n", 4}, // stuffing is not counted
		{"\r\r\n", 4},
	}
	for _, tt := range tests {
		if got := Size([]byte(tt.in)); got != tt.want {
			t.Errorf("Size(%q) = %d, want %d", tt.in, got, tt.want)
		}
		d := NewDotWriter(io.Discard)
		for i := range len(tt.in) {
			d.Write([]byte{tt.in[i]})
		}
		d.Close()
		if got := d.Size(); got != tt.want {
			t.Errorf("DotWriter.Size of %q written one octet at a time = %d; want %d", tt.in, got, tt.want)
		}
		if want := int64(len(testkit.WireForm([]byte(tt.in)))); tt.want != want {
			t.Errorf("table case %q disagrees with testkit.WireForm: %d vs %d", tt.in, tt.want, want)
		}
	}
}

func TestTopWriter(t *testing.T) {
	msg := "From: a\r\nSubject: b\r\n\r\nl1\r\nl2\r\n\r\nl4\r\n"
	tests := []struct {
		name  string
		in    string
		lines int
		want  string
	}{
		{"k=0", msg, 0, "From: a\r\nSubject: b\r\n\r\n"},
		{"k=1", msg, 1, "From: a\r\nSubject: b\r\n\r\nl1\r\n"},
		{"k=3 empty body line", msg, 3, "From: a\r\nSubject: b\r\n\r\nl1\r\nl2\r\n\r\n"},
		{"k=4 all", msg, 4, msg},
		{"k>body", msg, 100, msg},
		{"no blank line", "From: a\r\nSubject: b\r\n", 0, "From: a\r\nSubject: b\r\n"},
		{"no body after blank", "From: a\r\n\r\n", 5, "From: a\r\n\r\n"},
		{"no final newline", "From: a\r\n\r\nbody", 1, "From: a\r\n\r\nbody"},
		{"bare LF", "From: a\n\nl1\nl2\n", 1, "From: a\n\nl1\n"},
		{"lone CR", "From: a\r\rl1\rl2\r", 1, "From: a\r\rl1\r"},
		{"empty header", "\r\nl1\r\nl2\r\n", 1, "\r\nl1\r\n"},
		{"empty message", "", 3, ""},
	}
	for _, tt := range tests {
		for _, chunk := range []int{0, 1, 2} {
			var buf bytes.Buffer
			tw := NewTopWriter(&buf, tt.lines)
			writeChunks(t, tw, []byte(tt.in), chunk)
			// Compare after the DotWriter's normalisation: TopWriter may
			// stop before the LF of a CRLF, which DotWriter completes.
			if got, want := testkit.WireForm(buf.Bytes()), testkit.WireForm([]byte(tt.want)); !bytes.Equal(got, want) {
				t.Errorf("%s (chunk %d): passed %q, want %q", tt.name, chunk, buf.Bytes(), tt.want)
			}
		}
	}
}

func TestTopWriterDone(t *testing.T) {
	var buf bytes.Buffer
	tw := NewTopWriter(&buf, 1)
	tw.Write([]byte("H: x\r\n\r\n"))
	if tw.Done() {
		t.Fatal("Done before the body line")
	}
	tw.Write([]byte("line\r\nmore\r\n"))
	if !tw.Done() {
		t.Fatal("not Done after the body line")
	}
	if n, err := tw.Write([]byte("ignored")); n != 7 || err != nil {
		t.Errorf("Write after Done = %d, %v; want 7, nil", n, err)
	}
	if buf.String() != "H: x\r\n\r\nline\r\n" {
		t.Errorf("passed %q", buf.String())
	}
}
