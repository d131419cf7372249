package transport

import (
	"bytes"
	"context"
	"io"
	"log"
	"log/slog"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// LevelTrace is the slog level of hclog's Trace, below slog.LevelDebug.
const LevelTrace = slog.LevelDebug - 4

// HCLog returns an hclog.Logger, the logger type go-plugin takes, that
// writes every record to l. go-plugin is the only user of hclog in the
// module: both sides log with log/slog and hand go-plugin this adapter.
// Names given with Named become the record's "module" attribute; the
// "timestamp" go-plugin adds to a line it forwards from a plugin is dropped
// (the record has its own time). SetLevel does nothing: l's handler decides.
func HCLog(l *slog.Logger) hclog.Logger {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return &hcLogger{l: l}
}

type hcLogger struct {
	l    *slog.Logger
	name string
	args []any // the With arguments, for ImpliedArgs
}

var _ hclog.Logger = (*hcLogger)(nil)

func slogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace:
		return LevelTrace
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

func (h *hcLogger) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.Off {
		return
	}
	sl := slogLevel(level)
	ctx := context.Background()
	if !h.l.Enabled(ctx, sl) {
		return
	}
	kv := make([]any, 0, len(args)+2)
	if h.name != "" {
		kv = append(kv, "module", h.name)
	}
	for i := 0; i < len(args); i += 2 {
		if i+1 < len(args) {
			if k, ok := args[i].(string); ok && k == "timestamp" {
				continue
			}
			kv = append(kv, args[i], args[i+1])
		} else {
			kv = append(kv, args[i])
		}
	}
	h.l.Log(ctx, sl, msg, kv...)
}

func (h *hcLogger) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *hcLogger) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *hcLogger) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *hcLogger) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *hcLogger) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }

func (h *hcLogger) enabled(l hclog.Level) bool {
	return h.l.Enabled(context.Background(), slogLevel(l))
}

func (h *hcLogger) IsTrace() bool { return h.enabled(hclog.Trace) }
func (h *hcLogger) IsDebug() bool { return h.enabled(hclog.Debug) }
func (h *hcLogger) IsInfo() bool  { return h.enabled(hclog.Info) }
func (h *hcLogger) IsWarn() bool  { return h.enabled(hclog.Warn) }
func (h *hcLogger) IsError() bool { return h.enabled(hclog.Error) }

func (h *hcLogger) ImpliedArgs() []any { return h.args }

func (h *hcLogger) With(args ...any) hclog.Logger {
	return &hcLogger{l: h.l.With(args...), name: h.name, args: append(h.args[:len(h.args):len(h.args)], args...)}
}

func (h *hcLogger) Name() string { return h.name }

func (h *hcLogger) Named(name string) hclog.Logger {
	if h.name != "" {
		name = h.name + "." + name
	}
	return h.ResetNamed(name)
}

func (h *hcLogger) ResetNamed(name string) hclog.Logger {
	return &hcLogger{l: h.l, name: name, args: h.args}
}

func (h *hcLogger) SetLevel(hclog.Level) {}

// GetLevel returns the lowest level l's handler takes.
func (h *hcLogger) GetLevel() hclog.Level {
	for _, l := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn, hclog.Error} {
		if h.enabled(l) {
			return l
		}
	}
	return hclog.Off
}

func (h *hcLogger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(h.StandardWriter(opts), "", 0)
}

// StandardWriter logs each line written as one record: at opts.ForceLevel
// if set, else at the level its "[DEBUG]"-style prefix names when
// opts.InferLevels is set, else at info.
func (h *hcLogger) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	if opts == nil {
		opts = &hclog.StandardLoggerOptions{}
	}
	return &lineWriter{h: h, opts: *opts}
}

type lineWriter struct {
	h    *hcLogger
	opts hclog.StandardLoggerOptions
}

func (w *lineWriter) Write(p []byte) (int, error) {
	for line := range bytes.Lines(p) {
		s := strings.TrimRight(string(line), "\r\n")
		if s == "" {
			continue
		}
		level := hclog.Info
		switch {
		case w.opts.ForceLevel != hclog.NoLevel:
			level = w.opts.ForceLevel
		case w.opts.InferLevels:
			level, s = inferLevel(s)
		}
		w.h.Log(level, s)
	}
	return len(p), nil
}

// inferLevel reads a "[LEVEL] " prefix, as hclog's standard writer does.
func inferLevel(s string) (hclog.Level, string) {
	for _, p := range []struct {
		prefix string
		level  hclog.Level
	}{
		{"[TRACE]", hclog.Trace}, {"[DEBUG]", hclog.Debug}, {"[INFO]", hclog.Info},
		{"[WARN]", hclog.Warn}, {"[ERROR]", hclog.Error}, {"[ERR]", hclog.Error},
	} {
		if rest, ok := strings.CutPrefix(s, p.prefix); ok {
			return p.level, strings.TrimSpace(rest)
		}
	}
	return hclog.Info, s
}
