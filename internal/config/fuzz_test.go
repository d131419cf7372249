package config

import (
	"strconv"
	"strings"
	"testing"
)

// Parse never panics, and every value it returns says a line of the file.
func FuzzParse(f *testing.F) {
	f.Add(sample)
	f.Add("a.b = 1\n[c]\nd = [1, 2]\ne = { f = \"x\" }\n")
	f.Add("[account.work]\nport = 995\n[account.work.mimestore]\npath = \"/m\"\n")
	f.Fuzz(func(t *testing.T, text string) {
		file, err := Parse("f.toml", []byte(text))
		if err != nil {
			return
		}
		lines := strings.Count(text, "\n") + 1
		for _, k := range file.Keys() {
			v, ok := file.Lookup(k)
			if !ok {
				t.Fatalf("key %q listed but not found", k)
			}
			n, err := strconv.Atoi(strings.TrimPrefix(v.Src, "f.toml:"))
			if err != nil || n < 1 || n > lines {
				t.Fatalf("key %q: source %q outside the file's %d lines", k, v.Src, lines)
			}
		}
	})
}
