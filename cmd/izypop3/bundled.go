package main

import (
	"fmt"
	"maps"
	"os"
	"slices"

	"github.com/izyware/izypop3/core/storehost"
	"github.com/izyware/izypop3/plugins/cloud/cloudstore"
	"github.com/izyware/izypop3/plugins/fake/fakestore"
	"github.com/izyware/izypop3/plugins/localfs/localfs"
)

// bundledStores are the first-party stores compiled into izypop3. They
// still run as plugin processes, like any store: izypop3 starts itself as
// `izypop3 storehost.BundledArg NAME` (as Packer runs its bundled plugins),
// so one binary, from make install or go install, is a working set, with no
// store binary to copy beside it. Third-party stores stay binaries of their
// own (izypop3-store-NAME), and one in --plugin-dir replaces a bundled store.
var bundledStores = map[string]func(){
	cloudstore.Name: cloudstore.Serve,
	fakestore.Name:  fakestore.Serve,
	localfs.Name:    localfs.Serve,
}

// bundledNames lists bundledStores, sorted.
func bundledNames() []string { return slices.Sorted(maps.Keys(bundledStores)) }

// locator is where izypop3 looks for stores: pluginDir (or
// $IZYPOP3_PLUGIN_DIR), its bundled stores, its own directory, PATH.
func locator(pluginDir string) storehost.Locator {
	return storehost.Locator{PluginDir: pluginDir, Bundled: bundledNames()}
}

// serveBundled is the main of a bundled store's process.
func serveBundled(name string) int {
	serve, ok := bundledStores[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "izypop3: no bundled store %q (bundled: %v)\n", name, bundledNames())
		return exitUsage
	}
	serve()
	return exitOK
}
