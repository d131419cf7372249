package transport

import (
	"io"
	"log/slog"
	"strings"
)

// hclogTime is the time format of the "@timestamp" go-plugin parses.
const hclogTime = "2006-01-02T15:04:05.000000Z07:00"

// NewPluginLogger returns a logger writing JSON lines in the form the host's
// go-plugin parses from a plugin's stderr ("@level", "@message",
// "@timestamp", "@module" and the attributes), so that each record arrives
// in the host's log at its level. level is one of trace, debug, info, warn,
// error; anything else means info.
func NewPluginLogger(w io.Writer, name, level string) *slog.Logger {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: parseLevel(level),
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				return slog.String("@timestamp", a.Value.Time().Format(hclogTime))
			case slog.LevelKey:
				return slog.String("@level", levelName(a.Value.Any().(slog.Level)))
			case slog.MessageKey:
				a.Key = "@message"
			}
			return a
		},
	})
	return slog.New(h).With("@module", name)
}

func parseLevel(s string) slog.Level {
	switch strings.ToLower(s) {
	case "trace":
		return LevelTrace
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// levelName is the hclog name of a slog level.
func levelName(l slog.Level) string {
	switch {
	case l < slog.LevelDebug:
		return "trace"
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	}
	return "error"
}
