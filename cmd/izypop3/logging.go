package main

import (
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
	var sl slog.Level
	switch lvl {
	case hclog.Trace, hclog.Debug:
		sl = slog.LevelDebug
	case hclog.Info:
		sl = slog.LevelInfo
	case hclog.Warn:
		sl = slog.LevelWarn
	default:
		sl = slog.LevelError
	}
	hopts := &slog.HandlerOptions{Level: sl}
	var h slog.Handler
	if json {
		h = slog.NewJSONHandler(w, hopts)
	} else {
		h = slog.NewTextHandler(w, hopts)
	}
	return hl, slog.New(h).With("component", "pop3server"), nil
}
