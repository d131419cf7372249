package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/mattn/go-isatty"

	"github.com/izyware/izypop3/sdk/pluginhost"
)

// logFlags are the logging options every long-running command takes.
type logFlags struct {
	format string // auto, text, json
	level  string // trace, debug, info, warn, error
}

// logger returns the one logger of the command (server, backend, store host
// and the plugins' forwarded lines), writing to w in the chosen format. It
// never logs a password: the server and backend log the command verb only.
func (f logFlags) logger(w io.Writer) (*slog.Logger, error) {
	json := false
	switch strings.ToLower(f.format) {
	case "", "auto":
		file, ok := w.(*os.File)
		json = !ok || !isatty.IsTerminal(file.Fd())
	case "text":
	case "json":
		json = true
	default:
		return nil, usageError{fmt.Errorf("--log-format %q: want auto, text or json", f.format)}
	}
	var level slog.Level
	switch strings.ToLower(f.level) {
	case "trace":
		level = pluginhost.LevelTrace
	case "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		return nil, usageError{fmt.Errorf("--log-level %q: want trace, debug, info, warn or error", f.level)}
	}
	opts := &slog.HandlerOptions{Level: level}
	if json {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}
