// Package plugintest runs a store plugin's built binary the way izypop3
// does, for the tests of the plugins under plugins/: it builds the binary
// once per test process, opens it through core/storehost, and runs the
// conformance suite and the start-up checks every plugin shares.
package plugintest

import (
	"os"
	"strings"
	"testing"

	"github.com/izyware/izypop3/core/storehost"
	"github.com/izyware/izypop3/internal/testkit"
	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/storetest"
)

// Plugin is one store plugin of this module.
type Plugin struct {
	// Name is the store's name: the binary is storehost.BinaryPrefix+Name.
	Name string
	// Package is the package to build, as go build takes it; "" is ".",
	// the package under test.
	Package string
	// Env, if set, names an environment variable that may hold the path
	// of a binary built beforehand, used instead of building one.
	Env string
}

// Main runs the tests of m, then stops the plugin processes still running
// and removes the binaries built; call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	storehost.Cleanup()
	testkit.Cleanup()
	os.Exit(code)
}

// Binary returns the path of the plugin binary, built on first use.
func (p Plugin) Binary(tb testing.TB) string {
	tb.Helper()
	pkg := p.Package
	if pkg == "" {
		pkg = "."
	}
	return testkit.Build(tb, pkg, storehost.BinaryPrefix+p.Name, p.Env)
}

// Open starts the plugin with config and returns its host, closed when the
// test ends.
func (p Plugin) Open(tb testing.TB, config map[string]string) *storehost.Host {
	tb.Helper()
	h, err := storehost.Open(tb.Context(), storehost.Options{Name: p.Name, Path: p.Binary(tb), Config: config})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { h.Close() })
	return h
}

// OpenFails starts the plugin with a config it must refuse and returns the
// error, which must contain each of want; the test fails otherwise.
func (p Plugin) OpenFails(tb testing.TB, config map[string]string, want ...string) error {
	tb.Helper()
	h, err := storehost.Open(tb.Context(), storehost.Options{Name: p.Name, Path: p.Binary(tb), Config: config})
	if err == nil {
		h.Close()
		tb.Fatalf("Open with %v succeeded, want an error naming %q", config, want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			tb.Fatalf("Open with %v: %v, want an error naming %q", config, err, w)
		}
	}
	return err
}

// Conformance runs the storetest suite against the plugin process, a fresh
// one for each case, started with config(t) (nil: no config).
func (p Plugin) Conformance(t *testing.T, config func(t *testing.T) map[string]string) {
	storetest.Run(t, func(t *testing.T) sdk.Store {
		var c map[string]string
		if config != nil {
			c = config(t)
		}
		return p.Open(t, c).Store()
	})
}
