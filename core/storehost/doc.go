// Package storehost is the host side of the store plugin boundary: it finds
// store binaries (izypop3-store-NAME), starts them with hashicorp/go-plugin
// over gRPC (AutoMTLS, a private 0700 socket directory, Pdeathsig on Linux),
// hands each its config block, restarts the plugin process when it dies, and
// hands consumers the store it serves ([Host.Store]).
//
// It is the one place that decides what a store can do: the value of
// Host.Store implements exactly the optional sdk interfaces the plugin
// advertised at Open (see [Host] for a restart that advertises others), so a
// consumer asks with a type assertion and never calls Info or tests
// sdk.ErrUnsupported.
//
// Lookup order of a store binary: an explicit path, the plugin directory
// (--plugin-dir or IZYPOP3_PLUGIN_DIR), the directory of the running
// executable, PATH. A binary may be pinned by its SHA-256.
//
// Logging: the host logs with log/slog, like the rest of izypop3. go-plugin
// takes an hclog.Logger; launch hands it pluginhost.HCLog, an adapter over
// the host's slog logger, so go-plugin's own records and the plugin's log
// lines (which it parses from the plugin's stderr) arrive in the one log at
// their levels. No other package of the module uses hclog.
//
// Every exit path of a program that opened a Host must call [Cleanup].
package storehost
