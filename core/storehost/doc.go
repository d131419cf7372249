// Package storehost is the host side of the store plugin boundary: it finds
// store binaries (izypop3-store-NAME), starts them with hashicorp/go-plugin
// over gRPC on a unix socket in a private 0700 directory (Pdeathsig on
// Linux), hands each its config block, restarts the plugin process when it
// dies, and hands consumers the store it serves ([Host.Store]).
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
// The plugin socket and TLS: each plugin process gets a fresh directory
// (os.MkdirTemp, mode 0700, under Options.SocketDir) and creates its socket
// in it. When that directory is private — owned by izypop3's user, and
// every directory above it owned by that user or root and writable by no
// one else unless sticky, as /tmp is — the connection is plain gRPC, without
// go-plugin's AutoMTLS: only processes of the same user or root can open or
// replace the socket, and those can read directly what the link carries
// (the store's files, the configuration izypop3 reads, with any store
// credential in it) and can signal both processes, so encrypting the link
// protects nothing from them (the threat model of
// docs/security.md trusts the machine and the plugin, a process of the same
// user). Dovecot's own auth and worker sockets rest on the same file
// permissions. Anywhere else (a SocketDir another user could write to, a
// symlink on the way, no unix sockets on Windows) the connection keeps
// AutoMTLS. The TLS cost, measured: 20 KB RETRs pipelined from localfs took
// 85-90 µs of CPU per message in izypop3 + plugin with it, 65-80 without.
//
// Every exit path of a program that opened a Host must call [Cleanup].
package storehost
