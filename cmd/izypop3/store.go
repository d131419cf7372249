package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/izyware/izypop3/core/storehost"
)

// storeFlags select and start a store plugin.
type storeFlags struct {
	modhandler string
	pluginDir  string
	pluginPath string
	pluginSum  string
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
	if f.modhandler == "" {
		return nil, usageError{fmt.Errorf("--modhandler is required")}
	}
	if !storehost.ValidName(f.modhandler) {
		return nil, usageError{fmt.Errorf("--modhandler %q is not a valid store name", f.modhandler)}
	}
	return storehost.Open(ctx, storehost.Options{
		Name:    f.modhandler,
		Path:    f.pluginPath,
		Locator: storehost.Locator{PluginDir: f.pluginDir},
		SHA256:  f.pluginSum,
		Config:  globalStoreConfig,
		Logger:  log,
	})
}

// noStoreConfig refuses --mimestore.* options on commands that start no store.
func noStoreConfig(cmd *cobra.Command) error {
	if len(globalStoreConfig) > 0 {
		return usageError{fmt.Errorf("%s takes no --%s options", cmd.Name(), storehost.ConfigPrefix+"*")}
	}
	return nil
}
