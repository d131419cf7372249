package main

import (
	"reflect"
	"testing"
)

func knownForTest(sub, key string) flagKind {
	switch key {
	case "tls":
		return boolFlag
	case "port", "password", "ip", "testtype", "cmd", "query", "user", "auth":
		return valueFlag
	}
	return notFlag
}

func TestNormalizeArgs(t *testing.T) {
	tests := []struct {
		in   []string
		want []string
	}{
		{[]string{"serverpop3", "port", "1110", "password", "12345", "mimestore.modhandler", "fake"},
			[]string{"serverpop3", "--port=1110", "--password=12345", "--mimestore.modhandler=fake"}},
		{[]string{"method", "serverpop3", "port", "1110"},
			[]string{"serverpop3", "--port=1110"}},
		{[]string{"serverpop3", "--port", "1110", "password", "x"},
			[]string{"serverpop3", "--port", "1110", "--password=x"}},
		{[]string{"test", "testtype", "mimestore", "mimestore.modhandler", "fake", "query.limit", "2", "query.tags", "abc"},
			[]string{"test", "--testtype=mimestore", "--mimestore.modhandler=fake", "--query.limit=2", "--query.tags=abc"}},
		{[]string{"passwd", "alice"}, []string{"passwd", "alice"}},
		// A flag's separate value is never taken for a seed key.
		{[]string{"clientpop3", "--auth", "user", "user", "u", "--tls", "cmd", "list", "--mimestore.path", "cmd"},
			[]string{"clientpop3", "--auth", "user", "--user=u", "--tls", "--cmd=list", "--mimestore.path", "cmd"}},
		{[]string{"clientpop3", "ip", "h", "tls", "true", "cmd", "retr", "query", "1-10"},
			[]string{"clientpop3", "--ip=h", "--tls=true", "--cmd=retr", "--query=1-10"}},
		{[]string{"version"}, []string{"version"}},
		{nil, []string{}},
	}
	for _, tt := range tests {
		got, err := normalizeArgs(tt.in, knownForTest)
		if err != nil {
			t.Fatalf("normalizeArgs(%q): %v", tt.in, err)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("normalizeArgs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if _, err := normalizeArgs([]string{"serverpop3", "port"}, knownForTest); err == nil {
		t.Error("dangling seed key accepted")
	}
}

func TestSplitStoreConfig(t *testing.T) {
	rest, cfg, err := splitStoreConfig([]string{"serverpop3", "--port=1", "--mimestore.path=/x", "--mimestore.layout", "maildir", "--mimestore.modhandler=localfs"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"serverpop3", "--port=1", "--modhandler=localfs"}; !reflect.DeepEqual(rest, want) {
		t.Errorf("rest = %q, want %q", rest, want)
	}
	if want := map[string]string{"path": "/x", "layout": "maildir"}; !reflect.DeepEqual(cfg, want) {
		t.Errorf("cfg = %v, want %v", cfg, want)
	}
	for _, bad := range [][]string{
		{"x", "--mimestore.path"},
		{"x", "--mimestore.=1"},
		{"x", "--mimestore.a=1", "--mimestore.a=2"},
	} {
		if _, _, err := splitStoreConfig(bad); err == nil {
			t.Errorf("splitStoreConfig(%q) accepted", bad)
		}
	}
}
