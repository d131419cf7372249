package main

import (
	"bytes"
	"slices"
	"testing"

	"github.com/izyware/izypop3/internal/testkit/plugintest"
	"github.com/izyware/izypop3/plugins/fake/fakestore"
	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/pluginhost"
	"github.com/izyware/izypop3/sdk/storetest"
)

// plugin is this package's binary, built once for its tests. Set
// IZYPOP3_FAKE_BIN to use one built beforehand.
var plugin = plugintest.Plugin{Name: "fake", Env: "IZYPOP3_FAKE_BIN"}

func TestMain(m *testing.M) { plugintest.Main(m) }

// The conformance suite against the real plugin process.
func TestConformanceBinary(t *testing.T) { plugin.Conformance(t, nil) }

func TestBinaryInfo(t *testing.T) {
	h := plugin.Open(t, nil)
	info := h.Info()
	if info.Name != "fake" || info.Version != fakestore.Version || info.SDKVersion != sdk.Version {
		t.Errorf("Info = %+v", info)
	}
	want := []string{pluginhost.CapConfigurer, pluginhost.CapTopFetcher, pluginhost.CapChecker, pluginhost.CapBatchFetcher, pluginhost.CapBatchPutter}
	if !slices.Equal(info.Capabilities, want) {
		t.Errorf("Capabilities = %v, want %v", info.Capabilities, want)
	}
}

// The plugin process serves the very messages the package generates in
// process: same UIDs, same octets.
func TestBinaryDeterministic(t *testing.T) {
	cfg := map[string]string{"count": "12", "seed": "42", "maxsize": "40000"}
	h := plugin.Open(t, cfg).Store()
	local := fakestore.New()
	if err := local.Configure(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	var remote, inproc []sdk.Item
	for it, err := range h.List(t.Context(), "INBOX", sdk.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		remote = append(remote, it)
	}
	for it, err := range local.List(t.Context(), "INBOX", sdk.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		inproc = append(inproc, it)
	}
	if len(remote) != 12 || len(remote) != len(inproc) {
		t.Fatalf("plugin lists %d items, in-process %d, want 12", len(remote), len(inproc))
	}
	for i := range remote {
		a, b := remote[i], inproc[i]
		if a.UID != b.UID || a.Size != b.Size || a.WireSize != b.WireSize || a.Tag != b.Tag || !a.Received.Equal(b.Received) {
			t.Errorf("item %d: plugin %+v, in-process %+v", i, a, b)
			continue
		}
		if !bytes.Equal(storetest.Fetch(t, h, "INBOX", a.UID), storetest.Fetch(t, local, "INBOX", a.UID)) {
			t.Errorf("item %d (%s): octets differ", i, a.UID)
		}
	}
}

// An unknown config key stops the start with the key named.
func TestBinaryStrictConfig(t *testing.T) {
	plugin.OpenFails(t, map[string]string{"count": "3", "cuont": "4"}, "cuont")
}
