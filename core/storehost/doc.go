// Package storehost is the host side of the store plugin boundary: it finds
// store binaries (izypop3-store-NAME), starts them with hashicorp/go-plugin
// over gRPC (AutoMTLS, a private 0700 socket directory, Pdeathsig on Linux),
// hands each its config block, and presents it as an sdk.Store ([Host]) that
// restarts the plugin process when it dies.
//
// Lookup order of a store binary: an explicit path, the plugin directory
// (--plugin-dir or IZYPOP3_PLUGIN_DIR), the directory of the running
// executable, PATH. A binary may be pinned by its SHA-256.
//
// Every exit path of a program that opened a Host must call [Cleanup].
package storehost
