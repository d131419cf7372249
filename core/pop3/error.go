package pop3

import (
	"strings"
)

// Extended response codes (RFC 2449 §8, RFC 3206). They appear in square
// brackets right after "-ERR".
const (
	// CodeInUse: the maildrop is locked by another session (RFC 2449 §8.1.1).
	CodeInUse = "IN-USE"
	// CodeLoginDelay: the user logged in too recently (RFC 2449 §8.1.2).
	CodeLoginDelay = "LOGIN-DELAY"
	// CodeSysTemp: a temporary system failure; retrying later may work
	// (RFC 3206 §4).
	CodeSysTemp = "SYS/TEMP"
	// CodeSysPerm: a permanent system failure (RFC 3206 §4).
	CodeSysPerm = "SYS/PERM"
	// CodeAuth: the credentials were wrong (RFC 3206 §5).
	CodeAuth = "AUTH"
)

// Capability names advertised by CAPA (RFC 2449 §6).
const (
	CapTop            = "TOP"
	CapUIDL           = "UIDL"
	CapUser           = "USER"
	CapRespCodes      = "RESP-CODES"
	CapAuthRespCode   = "AUTH-RESP-CODE"
	CapPipelining     = "PIPELINING"
	CapImplementation = "IMPLEMENTATION"
	CapSTLS           = "STLS"
	CapSASL           = "SASL"
	CapLoginDelay     = "LOGIN-DELAY"
)

// Error is a negative POP3 reply. It renders on the wire as
// "-ERR [Code] Text" ("-ERR Text" when Code is empty). It is the only kind
// of error whose text reaches a client: the server answers any other error
// with -ERR [SYS/TEMP] and a generic text.
type Error struct {
	Code string // extended response code without brackets, e.g. CodeInUse; may be empty
	Text string // human-readable text; CR and LF are removed when rendered
}

// Error returns the reply line without its CRLF, e.g. "-ERR [IN-USE] locked".
func (e *Error) Error() string { return e.Line() }

// Line returns the reply line without its CRLF. Code and Text are cleaned
// so the line is always exactly one line.
func (e *Error) Line() string {
	var b strings.Builder
	b.WriteString("-ERR")
	if c := CleanText(e.Code); c != "" {
		b.WriteString(" [")
		b.WriteString(c)
		b.WriteString("]")
	}
	if t := CleanText(e.Text); t != "" {
		b.WriteString(" ")
		b.WriteString(t)
	}
	return b.String()
}

// Is reports whether target is an *Error with the same Code, so that
// errors.Is(err, &pop3.Error{Code: pop3.CodeInUse}) matches any IN-USE
// error whatever its text.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	return t.Code == e.Code && (t.Text == "" || t.Text == e.Text)
}

// ParseError parses the text of a negative reply, the part after "-ERR "
// (for example "[IN-USE] mailbox locked"), into an *Error. A leading
// bracketed token is taken as the response code (RFC 2449 §8).
func ParseError(text string) *Error {
	text = strings.TrimLeft(text, " ")
	if strings.HasPrefix(text, "[") {
		if end := strings.IndexByte(text, ']'); end > 1 && !strings.ContainsAny(text[1:end], " []") {
			return &Error{Code: text[1:end], Text: strings.TrimLeft(text[end+1:], " ")}
		}
	}
	return &Error{Text: text}
}

// CleanText returns s with every CR and LF replaced by a space and other
// control octets removed, so it can be put on a single reply line.
func CleanText(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\r' || c == '\n' || c == '\t':
			b.WriteByte(' ')
		case c < 0x20 || c == 0x7f:
			// dropped
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
