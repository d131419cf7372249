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

// FuzzParseCommand: a parsed command formats back to a line that parses to
// the same command, and that line is the input with the keyword upper-cased.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"STAT", "list 1", "TOP 1 10", "PASS a b  c", "USER ", "APOP bob c4c9334bac560ecc979e58001b3e22fb", " ", "\x00", "Ü 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		cmd, err := ParseCommand(line)
		if err != nil {
			return
		}
		if len(cmd.Args) > MaxArgs || len(cmd.Name) > MaxKeywordLength || cmd.Name == "" {
			t.Fatalf("limits exceeded: %#v", cmd)
		}
		if cmd.Name != strings.ToUpper(cmd.Name) {
			t.Fatalf("name not upper-cased: %q", cmd.Name)
		}
		s := cmd.String()
		if !strings.EqualFold(s, line) || s[len(cmd.Name):] != line[len(cmd.Name):] {
			t.Fatalf("String() = %q, input %q", s, line)
		}
		again, err := ParseCommand(s)
		if err != nil || again.Name != cmd.Name || !equalArgs(again.Args, cmd.Args) {
			t.Fatalf("ParseCommand(%q) = %#v, %v; want %#v", s, again, err, cmd)
		}
	})
}

// FuzzDotWriter: what DotWriter writes equals the reference stuffing of the
// normalised input, DotReader turns it back into the normalised input and
// stops at the terminator, and Size matches the normalised length. chunk varies the
// Write boundaries.
func FuzzDotWriter(f *testing.F) {
	for _, tt := range dotCases {
		f.Add([]byte(tt.in), uint8(0))
		f.Add([]byte(tt.in), uint8(1))
	}
	f.Add([]byte("From: a\r\n\r\n.\r\n..\r\n.\n\r.\r"), uint8(3))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		var wire bytes.Buffer
		dw := NewDotWriter(&wire)
		writeChunks(t, dw, in, int(chunk))
		if err := dw.Close(); err != nil {
			t.Fatal(err)
		}
		norm := testkit.WireForm(in)
		if want := stuff(norm); !bytes.Equal(wire.Bytes(), want) {
			t.Fatalf("DotWriter(%q) = %q, want %q", in, wire.Bytes(), want)
		}
		if dw.Size() != int64(len(norm)) || Size(in) != int64(len(norm)) {
			t.Fatalf("Size = %d, normalised length %d", dw.Size(), len(norm))
		}
		wire.WriteString("+OK trailing")
		br := bufio.NewReaderSize(&wire, 16)
		got, err := io.ReadAll(NewDotReader(br))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, norm) {
			t.Fatalf("unstuffed %q, want %q", got, norm)
		}
		if rest, _ := io.ReadAll(br); string(rest) != "+OK trailing" {
			t.Fatalf("DotReader read past the terminator: rest %q", rest)
		}
	})
}

// FuzzTopWriter: TOP output is a prefix of the message, at line boundaries,
// holding at most header + empty line + n body lines.
func FuzzTopWriter(f *testing.F) {
	f.Add([]byte("From: a\r\n\r\nl1\r\nl2\r\n"), uint8(1), uint8(0))
	f.Add([]byte("a\rb\n\r\nc\n"), uint8(0), uint8(1))
	f.Fuzz(func(t *testing.T, in []byte, lines, chunk uint8) {
		var out bytes.Buffer
		tw := NewTopWriter(&out, int(lines))
		writeChunks(t, tw, in, int(chunk))
		if !bytes.HasPrefix(in, out.Bytes()) {
			t.Fatalf("TOP output %q is not a prefix of %q", out.Bytes(), in)
		}
		norm := testkit.WireForm(out.Bytes())
		full := testkit.WireForm(in)
		if !bytes.HasPrefix(full, norm) {
			t.Fatalf("normalised TOP output %q is not a prefix of %q", norm, full)
		}
		if tw.Done() {
			body := bytes.Index(full, []byte("\r\n\r\n"))
			if !bytes.HasPrefix(full, []byte("\r\n")) && body < 0 {
				t.Fatalf("Done without an empty line in %q", full)
			}
		}
		if !tw.Done() && !bytes.Equal(norm, full) {
			t.Fatalf("not Done but output %q shorter than %q", norm, full)
		}
	})
}

// FuzzLineReader: the command reader. Every line returned is within the
// limit and holds no LF; a too-long line is reported and skipped whole;
// the lines returned are exactly the input's lines within the limit, in
// order.
func FuzzLineReader(f *testing.F) {
	for _, s := range []string{"USER a\r\nPASS b\r\n", "x\n\ny\r\n", strings.Repeat("a", 300) + "\r\nSTAT\r\n", "no end", "\r\r\n", strings.Repeat("b", 2000)} {
		f.Add([]byte(s))
	}
	const limit = 255
	f.Fuzz(func(t *testing.T, data []byte) {
		lr := NewLineReader(bufio.NewReaderSize(bytes.NewReader(data), 16), limit)
		// The expected lines: split at LF, CR before LF dropped, long ones
		// skipped, a final line without LF not returned.
		var want []string
		rest := data
		for {
			i := bytes.IndexByte(rest, '\n')
			if i < 0 {
				break
			}
			l := bytes.TrimSuffix(rest[:i], []byte("\r"))
			rest = rest[i+1:]
			if len(l) <= limit {
				want = append(want, string(l))
			}
		}
		var got []string
		for n := 0; ; n++ {
			if n > len(data)+1 {
				t.Fatal("reader does not end")
			}
			line, err := lr.ReadLine()
			if err == nil {
				if len(line) > limit || strings.ContainsRune(line, '\n') {
					t.Fatalf("line %q breaks the limit or holds LF", line)
				}
				got = append(got, line)
				continue
			}
			if errors.Is(err, ErrLineTooLong) {
				continue
			}
			if err != io.EOF && err != io.ErrUnexpectedEOF {
				t.Fatalf("error %v", err)
			}
			break
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") || len(got) != len(want) {
			t.Fatalf("lines %q, want %q", got, want)
		}
	})
}
