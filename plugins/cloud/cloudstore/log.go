package cloudstore

import (
	"io"
	"log/slog"
	"os"
	"strings"
)

// NewPluginLogger returns the logger the plugin binary gives New: JSON lines
// on stderr in the form go-plugin's host parses ("@level", "@message"), so
// that izypop3 forwards them into its own log with their levels. The level
// is taken from IZYPOP3_PLUGIN_LOG_LEVEL (debug, info, warn, error);
// default info.
func NewPluginLogger() *slog.Logger {
	return newJSONLogger(os.Stderr, os.Getenv("IZYPOP3_PLUGIN_LOG_LEVEL"))
}

func newJSONLogger(w io.Writer, level string) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(strings.ToUpper(level))); err != nil || level == "" {
		lv = slog.LevelInfo
	}
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) > 0 {
			return a
		}
		switch a.Key {
		case slog.TimeKey:
			return slog.Attr{} // the host stamps the line
		case slog.LevelKey:
			return slog.String("@level", strings.ToLower(a.Value.String()))
		case slog.MessageKey:
			return slog.String("@message", a.Value.String())
		}
		return a
	}})
	return slog.New(h)
}
