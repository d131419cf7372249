package wire

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
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
		norm := normalize(in)
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
		norm := normalize(out.Bytes())
		full := normalize(in)
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
