//go:build !unix

package storehost

// privateDir is false where go-plugin does not use unix sockets (Windows:
// a loopback TCP port any local user can connect to), so the plugin
// connection keeps its mutual TLS.
func privateDir(string) bool { return false }
