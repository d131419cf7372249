package testkit

import "bytes"

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
