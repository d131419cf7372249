// Command izypop3-store-fake is izypop3's deterministic mimestore plugin
// (--modhandler fake): generated MIME messages, the same on every run. See
// package fakestore for its configuration.
package main

import "github.com/izyware/izypop3/plugins/fake/fakestore"

func main() { fakestore.Serve() }
