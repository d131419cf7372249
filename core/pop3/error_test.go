package pop3

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrorLine(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{Code: CodeInUse, Text: "maildrop locked"}, "-ERR [IN-USE] maildrop locked"},
		{&Error{Text: "no such message"}, "-ERR no such message"},
		{&Error{Code: CodeSysTemp}, "-ERR [SYS/TEMP]"},
		{&Error{}, "-ERR"},
		{&Error{Code: CodeAuth, Text: "bad\r\npassword\n+OK injected"}, "-ERR [AUTH] bad  password +OK injected"},
		{&Error{Code: "SYS\r\nTEMP", Text: "x\x00y"}, "-ERR [SYS  TEMP] xy"},
	}
	for _, tt := range tests {
		if got := tt.err.Line(); got != tt.want {
			t.Errorf("%#v.Line() = %q, want %q", tt.err, got, tt.want)
		}
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("%#v.Error() = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestErrorIs(t *testing.T) {
	err := fmt.Errorf("login: %w", &Error{Code: CodeInUse, Text: "locked"})
	if !errors.Is(err, &Error{Code: CodeInUse}) {
		t.Error("errors.Is IN-USE = false, want true")
	}
	if errors.Is(err, &Error{Code: CodeAuth}) {
		t.Error("errors.Is AUTH = true, want false")
	}
	var pe *Error
	if !errors.As(err, &pe) || pe.Text != "locked" {
		t.Errorf("errors.As = %v, want the IN-USE error", pe)
	}
}

func TestParseError(t *testing.T) {
	tests := []struct {
		text string
		want Error
	}{
		{"[IN-USE] mailbox locked", Error{Code: "IN-USE", Text: "mailbox locked"}},
		{"[SYS/TEMP]", Error{Code: "SYS/TEMP"}},
		{"no such message", Error{Text: "no such message"}},
		{"[not a code] text", Error{Text: "[not a code] text"}},
		{"[] x", Error{Text: "[] x"}},
		{"[AUTH]bad", Error{Code: "AUTH", Text: "bad"}},
		{"", Error{}},
	}
	for _, tt := range tests {
		if got := ParseError(tt.text); *got != tt.want {
			t.Errorf("ParseError(%q) = %#v, want %#v", tt.text, *got, tt.want)
		}
	}
}

func TestParseErrorRoundTrip(t *testing.T) {
	for _, e := range []*Error{{Code: CodeLoginDelay, Text: "wait 5 minutes"}, {Text: "plain"}, {Code: CodeSysPerm}} {
		line := e.Line()
		got := ParseError(line[len("-ERR"):])
		if *got != *e {
			t.Errorf("ParseError(Line(%#v)) = %#v", e, got)
		}
	}
}
