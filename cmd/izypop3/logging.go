package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/mattn/go-isatty"
)

// logFlags are the logging options every long-running command takes.
type logFlags struct {
	format string // auto, text, json
	level  string // trace, debug, info, warn, error
}

// loggers returns the hclog logger (store host, plugins, backend) and the
// slog logger (POP3 server) writing to w in one format. They never log a
// password: the server and backend log the command verb only.
func (f logFlags) loggers(w io.Writer, name string) (hclog.Logger, *slog.Logger, error) {
	json := false
	switch strings.ToLower(f.format) {
	case "", "auto":
		file, ok := w.(*os.File)
		json = !ok || !isatty.IsTerminal(file.Fd())
	case "text":
	case "json":
		json = true
	default:
		return nil, nil, usageError{fmt.Errorf("--log-format %q: want auto, text or json", f.format)}
	}
	lvl := hclog.LevelFromString(f.level)
	if lvl == hclog.NoLevel {
		return nil, nil, usageError{fmt.Errorf("--log-level %q: want trace, debug, info, warn or error", f.level)}
	}
	hl := hclog.New(&hclog.LoggerOptions{
		Name:       name,
		Level:      lvl,
		Output:     w,
		JSONFormat: json,
	})
	return hl, slog.New(&hclogHandler{log: hl.Named("pop3server")}), nil
}

// hclogHandler is a slog.Handler writing through an hclog.Logger, so the
// POP3 server (standard library only, log/slog) and the store host log in
// one format.
type hclogHandler struct {
	log    hclog.Logger
	attrs  []any
	prefix string // group prefix for keys
}

func (h *hclogHandler) level(l slog.Level) hclog.Level {
	switch {
	case l < slog.LevelInfo:
		return hclog.Debug
	case l < slog.LevelWarn:
		return hclog.Info
	case l < slog.LevelError:
		return hclog.Warn
	default:
		return hclog.Error
	}
}

func (h *hclogHandler) Enabled(_ context.Context, l slog.Level) bool {
	return h.log.GetLevel() <= h.level(l)
}

func (h *hclogHandler) Handle(_ context.Context, r slog.Record) error {
	args := make([]any, 0, len(h.attrs)+2*r.NumAttrs())
	args = append(args, h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		args = h.appendAttr(args, h.prefix, a)
		return true
	})
	h.log.Log(h.level(r.Level), r.Message, args...)
	return nil
}

func (h *hclogHandler) appendAttr(args []any, prefix string, a slog.Attr) []any {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, ga := range v.Group() {
			args = h.appendAttr(args, p, ga)
		}
		return args
	}
	if a.Key == "" {
		return args
	}
	return append(args, prefix+a.Key, v.Any())
}

func (h *hclogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := &hclogHandler{log: h.log, prefix: h.prefix, attrs: append([]any(nil), h.attrs...)}
	for _, a := range attrs {
		n.attrs = h.appendAttr(n.attrs, h.prefix, a)
	}
	return n
}

func (h *hclogHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &hclogHandler{log: h.log, attrs: h.attrs, prefix: h.prefix + name + "."}
}
