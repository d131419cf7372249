package testkit

import (
	"bytes"
	"strings"
)

// WireForm returns a message as a POP3 server sends it, before
// byte-stuffing, written the slow, obvious way so that tests can hold the
// fast paths to it: every CRLF, bare LF and lone CR becomes CRLF, and a
// non-empty message that does not end with a line ending gets a final CRLF
// (the rule sdk.WireSizeOf counts and pop3server's writer applies).
func WireForm(raw []byte) []byte {
	out := make([]byte, 0, len(raw)+len(raw)/32+2)
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; c {
		case '\r':
			out = append(out, '\r', '\n')
			if i+1 < len(raw) && raw[i+1] == '\n' {
				i++
			}
		case '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, c)
		}
	}
	if len(out) > 0 && !bytes.HasSuffix(out, []byte("\r\n")) {
		out = append(out, '\r', '\n')
	}
	return out
}

// DotText returns 76-octet lines ending in eol, one in fifty starting with
// "." (so byte-stuffed when sent), up to size octets or just past it: the
// body the benchmarks of core/pop3 send.
func DotText(size int, eol string) []byte {
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
