package pop3client

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/izyware/izypop3/core/pop3"
	"github.com/izyware/izypop3/core/pop3/wire"
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

// bodyReader is what Retr reads through: wire's DotReader and the line
// limit.
func bodyReader(r io.Reader, max int) io.Reader {
	// bufio's minimum size: forces many refills.
	return &lineLimiter{r: wire.NewDotReader(bufio.NewReaderSize(r, 16)), max: max}
}

func unstuff(wire []byte, oneByte bool, max int) ([]byte, error) {
	var r io.Reader = bytes.NewReader(wire)
	if oneByte {
		r = iotest.OneByteReader(r)
	}
	return io.ReadAll(bodyReader(r, max))
}

func TestBodyReader(t *testing.T) {
	tests := []struct {
		wire, want string
	}{
		{".\r\n", ""},
		{".\n", ""},
		{"a\r\n.\r\n", "a\r\n"},
		{"a\n.\n", "a\r\n"},
		{"..\r\n.\r\n", ".\r\n"},
		{"...\r\n.\r\n", "..\r\n"},
		{".a\r\n.\r\n", "a\r\n"},
		{"a.\r\n.b\r\n.\r\n", "a.\r\n" + "b\r\n"},
		{".\rx\r\n.\r\n", "\rx\r\n"},
		{"x\r\n.\r\nafter", "x\r\n"},
		{"\r\n\r\n.\r\n", "\r\n\r\n"},
		{"mixed\r\nbare\n..\n.\r\n", "mixed\r\nbare\r\n.\r\n"},
		{strings.Repeat("long line ", 100) + "\r\n.\r\n", strings.Repeat("long line ", 100) + "\r\n"},
	}
	for _, tt := range tests {
		for _, one := range []bool{false, true} {
			got, err := unstuff([]byte(tt.wire), one, DefaultMaxDataLine)
			if err != nil || string(got) != tt.want {
				t.Errorf("unstuff(%q, oneByte=%v) = %q, %v; want %q", tt.wire, one, got, err, tt.want)
			}
		}
	}
}

func TestBodyReaderUnexpectedEOF(t *testing.T) {
	for _, w := range []string{"", "a", "a\r\n", "a\r\n.", "a\r\n.\r", "a\r\n..\r\n", ".x"} {
		_, err := unstuff([]byte(w), false, DefaultMaxDataLine)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("unstuff(%q) err = %v, want io.ErrUnexpectedEOF", w, err)
		}
	}
}

func TestBodyReaderLineLimit(t *testing.T) {
	const max = 100
	for _, tt := range []struct {
		wire string
		ok   bool
	}{
		{strings.Repeat("x", max) + "\r\n.\r\n", true},
		{strings.Repeat("x", max) + "\n.\r\n", true},
		{"a\r\n" + strings.Repeat("x", max) + "\r\nb\r\n.\r\n", true},
		{"a\r\n" + strings.Repeat("x", max+1) + "\r\nb\r\n.\r\n", false},
		{strings.Repeat("x", max+1) + "\n.\r\n", false},
		{strings.Repeat("x", 10*max), false}, // no line end at all
	} {
		for _, one := range []bool{false, true} {
			_, err := unstuff([]byte(tt.wire), one, max)
			if tt.ok && err != nil || !tt.ok && !errors.Is(err, ErrProtocol) {
				t.Errorf("unstuff(%.20q... %d octets, oneByte=%v) = %v, want ok=%v", tt.wire, len(tt.wire), one, err, tt.ok)
			}
		}
	}
}

func TestBodyReaderRoundTrip(t *testing.T) {
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

// crlf returns msg as transmitted without stuffing: a bare LF becomes CRLF
// and a final CRLF is added to a message that does not end with LF. (Only
// LF ends a line in a reply; a lone CR is data.)
func crlf(msg []byte) []byte {
	var b bytes.Buffer
	for i, c := range msg {
		if c == '\n' && (i == 0 || msg[i-1] != '\r') {
			b.WriteByte('\r')
		}
		b.WriteByte(c)
	}
	if len(msg) > 0 && msg[len(msg)-1] != '\n' {
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// checkRoundTrip checks that unstuffing the stuffed message gives back the
// message with CRLF line ends.
func checkRoundTrip(t testing.TB, msg []byte) {
	want := crlf(msg)
	for _, one := range []bool{false, true} {
		got, err := unstuff(stuff(msg), one, DefaultMaxDataLine)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("round trip of %q (oneByte=%v) = %q, %v; want %q", msg, one, got, err, want)
		}
	}
}

// FuzzBodyReaderRoundTrip: stuffed then read back equals the input with
// CRLF line ends.
func FuzzBodyReaderRoundTrip(f *testing.F) {
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

// FuzzListingLines: parseNumbers and parseUID never panic, accept only
// non-negative numbers, and a formatted line parses back to its values.
func FuzzListingLines(f *testing.F) {
	for _, s := range []string{"1 120", "2 200 extra", "x y", "1", "-1 5", "3 99999999999999999999", "1 uid-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		if n, size, err := parseNumbers(line); err == nil {
			if n < 0 || size < 0 {
				t.Fatalf("%q: negative %d %d", line, n, size)
			}
			n2, size2, err := parseNumbers(fmt.Sprintf("%d %d", n, size))
			if err != nil || n2 != n || size2 != size {
				t.Fatalf("%q: %d %d does not round-trip", line, n, size)
			}
		} else if !errors.Is(err, ErrProtocol) {
			t.Fatalf("%q: %v", line, err)
		}
		if u, err := parseUID(line); err == nil {
			if u.Num < 0 || u.UID == "" || strings.ContainsAny(u.UID, " \t\r\n") {
				t.Fatalf("%q: bad %+v", line, u)
			}
			u2, err := parseUID(fmt.Sprintf("%d %s", u.Num, u.UID))
			if err != nil || u2 != u {
				t.Fatalf("%q: %+v does not round-trip", line, u)
			}
		} else if !errors.Is(err, ErrProtocol) {
			t.Fatalf("%q: %v", line, err)
		}
	})
}
