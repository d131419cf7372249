package wire

import (
	"errors"
	"fmt"
	"strings"
)

// Command limits.
const (
	// MaxKeywordLength bounds the keyword. RFC 1939 §3 keywords are three
	// or four characters; extensions registered under RFC 2449 stay short.
	MaxKeywordLength = 40
	// MaxArgs bounds the number of arguments. No POP3 command takes more
	// than two (TOP, APOP); PASS may carry spaces inside its one argument
	// (RFC 1939 §7), so the limit leaves room for those.
	MaxArgs = 16
)

// ErrSyntax is wrapped by every error of ParseCommand.
var ErrSyntax = errors.New("syntax error")

// Command is one parsed command line.
type Command struct {
	Name string   // the keyword, upper-cased ASCII
	Args []string // the arguments, split on single spaces (an empty string where spaces repeat)
}

// Rest returns the arguments as they were on the line: the text after the
// keyword and its space. PASS uses it, since a password may hold spaces
// (RFC 1939 §7).
func (c Command) Rest() string { return strings.Join(c.Args, " ") }

// String formats the command as a line without CRLF. For every command
// returned by ParseCommand, ParseCommand(c.String()) returns c again.
func (c Command) String() string {
	if len(c.Args) == 0 {
		return c.Name
	}
	return c.Name + " " + c.Rest()
}

// ParseCommand splits a command line (without CRLF) into keyword and
// arguments (RFC 1939 §3: a keyword, then arguments, each separated by a
// single space, all printable). Control octets anywhere are refused;
// octets above 0x7E are allowed in arguments (passwords in UTF-8). An
// empty argument (two spaces in a row, a trailing space) is kept as "" for
// the caller to judge.
func ParseCommand(line string) (Command, error) {
	for i := 0; i < len(line); i++ {
		if c := line[i]; c < 0x20 || c == 0x7f {
			return Command{}, fmt.Errorf("%w: control character in command", ErrSyntax)
		}
	}
	name, rest, hasArgs := strings.Cut(line, " ")
	if name == "" {
		return Command{}, fmt.Errorf("%w: missing command keyword", ErrSyntax)
	}
	if len(name) > MaxKeywordLength {
		return Command{}, fmt.Errorf("%w: command keyword too long", ErrSyntax)
	}
	upper := []byte(name)
	for i, c := range upper {
		switch {
		case c >= 'a' && c <= 'z':
			upper[i] = c - ('a' - 'A')
		case c > 0x7e:
			return Command{}, fmt.Errorf("%w: invalid command keyword", ErrSyntax)
		}
	}
	cmd := Command{Name: keyword(upper)}
	if !hasArgs {
		return cmd, nil
	}
	if n := strings.Count(rest, " ") + 1; n > MaxArgs {
		return Command{}, fmt.Errorf("%w: too many arguments", ErrSyntax)
	}
	cmd.Args = strings.Split(rest, " ")
	return cmd, nil
}

// keyword returns upper as a string, without allocating for the keywords
// of RFC 1939, 2449 and 2595 (one command line per RETR: every allocation
// counts).
func keyword(upper []byte) string {
	switch string(upper) { // compared without conversion
	case "RETR":
		return "RETR"
	case "TOP":
		return "TOP"
	case "LIST":
		return "LIST"
	case "UIDL":
		return "UIDL"
	case "STAT":
		return "STAT"
	case "DELE":
		return "DELE"
	case "NOOP":
		return "NOOP"
	case "RSET":
		return "RSET"
	case "QUIT":
		return "QUIT"
	case "USER":
		return "USER"
	case "PASS":
		return "PASS"
	case "APOP":
		return "APOP"
	case "CAPA":
		return "CAPA"
	case "STLS":
		return "STLS"
	case "AUTH":
		return "AUTH"
	}
	return string(upper)
}
