package sdk

import (
	"errors"
	"testing"
)

func TestMatchConfigKey(t *testing.T) {
	for _, tt := range []struct {
		pattern, key string
		want         bool
	}{
		{"path", "path", true},
		{"path", "paths", false},
		{"path", "path.x", false},
		{"mailbox.NAME.count", "mailbox.INBOX.count", true},
		{"mailbox.NAME.count", "mailbox.a.b.count", true},
		{"mailbox.NAME.count", "mailbox.count", false},
		{"mailbox.NAME.count", "mailbox..count", false},
		{"mailbox.NAME.count", "mailbox.a.seed", false},
		{"NAME", "anything.at.all", true},
		{"NAME", "", false},
	} {
		if got := MatchConfigKey(tt.pattern, tt.key); got != tt.want {
			t.Errorf("MatchConfigKey(%q, %q) = %v, want %v", tt.pattern, tt.key, got, tt.want)
		}
	}
}

func TestCheckConfig(t *testing.T) {
	keys := []ConfigKey{{Name: "path"}, {Name: "layout"}}
	if err := CheckConfig("localfs", keys, map[string]string{"path": "/x"}); err != nil {
		t.Fatal(err)
	}
	err := CheckConfig("localfs", keys, map[string]string{"path": "/x", "lay0ut": "eml", "bogus": "1"})
	var uk *UnknownKeysError
	if !errors.Is(err, ErrInvalid) || !errors.As(err, &uk) || len(uk.Keys) != 2 {
		t.Fatalf("err %v", err)
	}
	if want := `unknown keys "mimestore.bogus", "mimestore.lay0ut" for store localfs (it takes mimestore.path, mimestore.layout)`; err.Error() != want {
		t.Errorf("message\n%s\nwant\n%s", err, want)
	}
	err = CheckConfig("x", nil, map[string]string{"a": "1"})
	if want := `unknown key "mimestore.a" for store x (it takes none)`; err == nil || err.Error() != want {
		t.Errorf("message %v, want %s", err, want)
	}
}
