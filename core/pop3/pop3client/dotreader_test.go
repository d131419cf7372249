package pop3client

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/izyware/izypop3/core/pop3"
)

// stuff returns msg as a server sends it in a multi-line reply: every line
// starting with "." gets one more, a CRLF is added if msg does not end with
// a line end, and the ".\r\n" terminator follows.
func stuff(msg []byte) []byte {
	var b bytes.Buffer
	atStart := true
	for _, c := range msg {
		if atStart && c == '.' {
			b.WriteByte('.')
		}
		b.WriteByte(c)
		atStart = c == '\n'
	}
	if len(msg) > 0 && !atStart {
		b.WriteString("\r\n")
	}
	b.WriteString(".\r\n")
	return b.Bytes()
}

func unstuff(t testing.TB, wire []byte, oneByte bool) ([]byte, error) {
	var r io.Reader = bytes.NewReader(wire)
	if oneByte {
		r = iotest.OneByteReader(r)
	}
	// bufio's minimum size: forces many refills.
	d := newDotReader(bufio.NewReaderSize(r, 16), DefaultMaxDataLine)
	return io.ReadAll(d)
}

func TestDotReader(t *testing.T) {
	tests := []struct {
		wire, want string
	}{
		{".\r\n", ""},
		{".\n", ""},
		{"a\r\n.\r\n", "a\r\n"},
		{"a\n.\n", "a\n"},
		{"..\r\n.\r\n", ".\r\n"},
		{"...\r\n.\r\n", "..\r\n"},
		{".a\r\n.\r\n", "a\r\n"},
		{"a.\r\n.b\r\n.\r\n", "a.\r\n" + "b\r\n"},
		{".\rx\r\n.\r\n", "\rx\r\n"},
		{"x\r\n.\r\nafter", "x\r\n"},
		{"\r\n\r\n.\r\n", "\r\n\r\n"},
		{"mixed\r\nbare\n..\n.\r\n", "mixed\r\nbare\n.\n"},
		{strings.Repeat("long line ", 100) + "\r\n.\r\n", strings.Repeat("long line ", 100) + "\r\n"},
	}
	for _, tt := range tests {
		for _, one := range []bool{false, true} {
			got, err := unstuff(t, []byte(tt.wire), one)
			if err != nil || string(got) != tt.want {
				t.Errorf("unstuff(%q, oneByte=%v) = %q, %v; want %q", tt.wire, one, got, err, tt.want)
			}
		}
	}
}

func TestDotReaderUnexpectedEOF(t *testing.T) {
	for _, wire := range []string{"", "a", "a\r\n", "a\r\n.", "a\r\n.\r", "a\r\n..\r\n", ".x"} {
		_, err := unstuff(t, []byte(wire), false)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("unstuff(%q) err = %v, want io.ErrUnexpectedEOF", wire, err)
		}
	}
}

func TestDotReaderStopsAtTerminator(t *testing.T) {
	br := bufio.NewReader(strings.NewReader("body\r\n.\r\n+OK next\r\n"))
	if _, err := io.ReadAll(newDotReader(br, DefaultMaxDataLine)); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(br)
	if string(rest) != "+OK next\r\n" {
		t.Errorf("rest = %q", rest)
	}
}

func TestDotReaderRoundTrip(t *testing.T) {
	// Every 3-octet string over the interesting alphabet.
	alphabet := []byte{'.', '\r', '\n', 'a'}
	var msg []byte
	for _, a := range alphabet {
		for _, b := range alphabet {
			for _, c := range alphabet {
				msg = append(msg[:0], a, b, c)
				checkRoundTrip(t, msg)
			}
		}
	}
}

// checkRoundTrip checks that unstuffing the stuffed message gives back the
// message with a final line end added when it had none.
func checkRoundTrip(t testing.TB, msg []byte) {
	want := msg
	if len(msg) > 0 && msg[len(msg)-1] != '\n' {
		want = append(append([]byte(nil), msg...), '\r', '\n')
	}
	for _, one := range []bool{false, true} {
		got, err := unstuff(t, stuff(msg), one)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("round trip of %q (oneByte=%v) = %q, %v; want %q", msg, one, got, err, want)
		}
	}
}

// FuzzDotReaderRoundTrip: stuffed then unstuffed equals the input (with a
// final line end). Only LF ends a line on both sides, so a lone CR is data.
func FuzzDotReaderRoundTrip(f *testing.F) {
	for _, s := range []string{"", ".", "..\r\n", "a\r\n.\r\nb", ".\r.\n", "x\ry\n.z"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		checkRoundTrip(t, msg)
	})
}

func FuzzParseStatus(f *testing.F) {
	for _, s := range []string{"+OK", "+OK hi", "-ERR", "-ERR [IN-USE] x", "-ERR [SYS/TEMP]", "-err [", "+okay", "* OK", "-ERR [a]b]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		text, err := parseStatus(line)
		upper := strings.ToUpper(line)
		var pe *pop3.Error
		switch {
		case err == nil:
			if !hasIndicator(upper, "+OK") {
				t.Fatalf("%q accepted as +OK", line)
			}
			if strings.HasPrefix(text, " ") || !strings.HasSuffix(line, text) {
				t.Fatalf("%q: text %q", line, text)
			}
		case errors.As(err, &pe):
			if !hasIndicator(upper, "-ERR") {
				t.Fatalf("%q parsed as -ERR", line)
			}
			if strings.ContainsAny(pe.Code, " []") {
				t.Fatalf("%q: bad code %q", line, pe.Code)
			}
			// Rendering the error and parsing it again gives the same
			// error when the fields are printable ASCII.
			if pop3.CleanText(pe.Text) == pe.Text && pop3.CleanText(pe.Code) == pe.Code && !strings.HasPrefix(pe.Text, " ") {
				_, err2 := parseStatus(pe.Line())
				var pe2 *pop3.Error
				if !errors.As(err2, &pe2) || *pe2 != *pe {
					t.Fatalf("%q: %#v renders as %q which parses as %#v", line, pe, pe.Line(), err2)
				}
			}
		case errors.Is(err, ErrProtocol):
			if hasIndicator(upper, "+OK") || hasIndicator(upper, "-ERR") {
				t.Fatalf("%q refused", line)
			}
		default:
			t.Fatalf("%q: unexpected error %v", line, err)
		}
	})
}
