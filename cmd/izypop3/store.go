package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/izyware/izypop3/core/storehost"
	"github.com/izyware/izypop3/sdk"
)

// storeFlags select and start a store plugin.
type storeFlags struct {
	modhandler string
	pluginDir  string
	pluginPath string
	pluginSum  string
	observer   storehost.Observer // set by the command for metrics; nil: none
	env        []string           // set by the command: the plugin's extra environment
}

// pluginProcs is the GOMAXPROCS a command gives its store plugin: want, at
// least 1; 0 when the user set GOMAXPROCS (env), which the plugin then
// inherits unchanged.
func pluginProcs(want int, env string) int {
	if env != "" {
		return 0
	}
	return max(1, want)
}

// setProcs runs the store plugin with GOMAXPROCS=n.
func (f *storeFlags) setProcs(n int) {
	f.env = append(f.env, "GOMAXPROCS="+strconv.Itoa(n))
}

func (f *storeFlags) register(cmd *cobra.Command, defaultStore string) {
	fl := cmd.Flags()
	fl.StringVar(&f.modhandler, "modhandler", defaultStore, "store plugin to use: runs izypop3-store-NAME (the seed's mimestore.modhandler)")
	fl.StringVar(&f.pluginDir, "plugin-dir", "", "directory searched first for store plugins (default $"+storehost.EnvPluginDir+")")
	fl.StringVar(&f.pluginPath, "plugin-path", "", "explicit path of the store plugin binary (skips the lookup)")
	fl.StringVar(&f.pluginSum, "plugin-sha256", "", "refuse to run a store plugin binary whose SHA-256 differs")
}

// open starts the store plugin with the --mimestore.* config block.
func (f *storeFlags) open(ctx context.Context, log *slog.Logger) (*storehost.Host, error) {
	return f.openConfig(ctx, log, globalStoreConfig, storeConfigSrc)
}

// openConfig starts the store plugin with the config block cfg; src says
// where its keys were set when not on the command line.
func (f *storeFlags) openConfig(ctx context.Context, log *slog.Logger, cfg, src map[string]string) (*storehost.Host, error) {
	if f.modhandler == "" {
		return nil, usageError{fmt.Errorf("--modhandler is required")}
	}
	if !storehost.ValidName(f.modhandler) {
		return nil, usageError{fmt.Errorf("--modhandler %q is not a valid store name", f.modhandler)}
	}
	cfg, verbose, err := splitVerbose(cfg)
	if err != nil {
		return nil, err
	}
	if verbose {
		log = slog.New(verboseHandler{log.Handler()})
	}
	h, err := storehost.Open(ctx, storehost.Options{
		Name:     f.modhandler,
		Path:     f.pluginPath,
		Locator:  locator(f.pluginDir),
		SHA256:   f.pluginSum,
		Config:   cfg,
		Verbose:  verbose,
		Logger:   log,
		Observer: f.observer,
		Env:      f.env,
	})
	// An unknown store key is a bad command line; say where it was set
	// when not on the command line.
	var uk *sdk.UnknownKeysError
	if errors.As(err, &uk) {
		if where := src[uk.Keys[0]]; where != "" {
			err = fmt.Errorf("%s: %w", where, err)
		}
		return nil, usageError{err}
	}
	// So are a store that is not there (the error lists the stores found)
	// and a value the store refuses (a mimestore.path that does not exist,
	// a malformed key): what was typed must change, not the machine.
	var ce *storehost.ConfigError
	if errors.Is(err, storehost.ErrNoPlugin) || errors.As(err, &ce) && errors.Is(err, sdk.ErrInvalid) {
		return nil, usageError{err}
	}
	return h, err
}

// verboseKey is the seed's mimestore.verbose: izypop3's own key, for every
// store (never passed to it): the store's debug log on.
const verboseKey = "verbose"

// splitVerbose takes verboseKey out of a store's config block.
func splitVerbose(cfg map[string]string) (rest map[string]string, verbose bool, err error) {
	v, ok := cfg[verboseKey]
	if !ok {
		return cfg, false, nil
	}
	verbose, err = strconv.ParseBool(v)
	if err != nil {
		return nil, false, usageError{fmt.Errorf("--%s%s %q: want true or false", storeConfigPrefix, verboseKey, v)}
	}
	rest = maps.Clone(cfg)
	delete(rest, verboseKey)
	return rest, verbose, nil
}

// verboseHandler lets the store's debug records through a handler set to a
// higher level (the built-in handlers check the level only in Enabled).
type verboseHandler struct{ slog.Handler }

func (h verboseHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelDebug }
func (h verboseHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return verboseHandler{h.Handler.WithAttrs(a)}
}
func (h verboseHandler) WithGroup(n string) slog.Handler {
	return verboseHandler{h.Handler.WithGroup(n)}
}

// noStoreConfig refuses --mimestore.* options on commands that start no store.
func noStoreConfig(cmd *cobra.Command) error {
	if len(globalStoreConfig) > 0 {
		return usageError{fmt.Errorf("%s takes no --%s options", cmd.Name(), storehost.ConfigPrefix+"*")}
	}
	return nil
}
