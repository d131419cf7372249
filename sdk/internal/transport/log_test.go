package transport

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// TestPluginLoggerForm: a plugin's records are JSON lines with the keys and
// level names go-plugin's host parses ("@level", "@message", "@timestamp"
// in its format, "@module"), attributes kept.
func TestPluginLoggerForm(t *testing.T) {
	var buf bytes.Buffer
	l := NewPluginLogger(&buf, "memo", "debug")
	l.Debug("opened", "mailbox", "INBOX")
	l.Log(t.Context(), LevelTrace, "not at debug")
	l.Warn("slow", "ms", 12)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2 (trace is below debug):\n%s", len(lines), buf.String())
	}
	for i, want := range []struct{ level, msg, key string }{{"debug", "opened", "mailbox"}, {"warn", "slow", "ms"}} {
		var m map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &m); err != nil {
			t.Fatal(err)
		}
		if m["@level"] != want.level || m["@message"] != want.msg || m["@module"] != "memo" || m[want.key] == nil {
			t.Errorf("line %d = %v", i, m)
		}
		if _, err := time.Parse(hclogTime, m["@timestamp"].(string)); err != nil {
			t.Errorf("line %d: @timestamp %v does not parse as go-plugin parses it: %v", i, m["@timestamp"], err)
		}
	}
	if NewPluginLogger(&buf, "x", "").Enabled(t.Context(), slog.LevelDebug) {
		t.Error("the default level is below info")
	}
}

// TestHCLogAdapter: go-plugin's hclog calls arrive in the slog logger at
// their levels, with the name as "module", the implied arguments, and
// without the "timestamp" go-plugin adds to forwarded plugin lines.
func TestHCLogAdapter(t *testing.T) {
	var buf bytes.Buffer
	sl := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := HCLog(sl).Named("store").With("pid", 7).Named("izypop3-store-memo")
	if h.GetLevel() != hclog.Debug || h.IsTrace() || !h.IsDebug() {
		t.Errorf("level %v, IsTrace %v, IsDebug %v", h.GetLevel(), h.IsTrace(), h.IsDebug())
	}
	h.Trace("dropped")
	h.Debug("plugin started", "timestamp", "2026-01-01T00:00:00.000Z", "path", "/x")
	h.Error("plugin exited")
	h.StandardWriter(&hclog.StandardLoggerOptions{InferLevels: true}).Write([]byte("[WARN] raw line\nplain line\n"))
	out := buf.String()
	for _, want := range []string{
		`level=DEBUG msg="plugin started" pid=7 module=store.izypop3-store-memo path=/x`,
		`level=ERROR msg="plugin exited"`,
		`level=WARN msg="raw line"`,
		`level=INFO msg="plain line"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "dropped") || strings.Contains(out, "timestamp=") {
		t.Errorf("trace record or go-plugin's timestamp logged:\n%s", out)
	}
	if got := h.ImpliedArgs(); len(got) != 2 || got[0] != "pid" {
		t.Errorf("ImpliedArgs = %v", got)
	}
}
