package main

import (
	"os"
	"strings"
	"testing"

	"github.com/izyware/izypop3/core/storehost"
	"github.com/izyware/izypop3/internal/s3test"
	"github.com/izyware/izypop3/internal/testbin"
	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/storetest"
)

// pluginBinary is the plugin, built once for this package's tests. Set
// IZYPOP3_CLOUD_BIN to use one built beforehand.
func pluginBinary(tb testing.TB) string {
	tb.Helper()
	return testbin.Build(tb, ".", "izypop3-store-cloud", "IZYPOP3_CLOUD_BIN")
}

func TestMain(m *testing.M) {
	code := m.Run()
	storehost.Cleanup()
	testbin.Cleanup()
	os.Exit(code)
}

func openHost(t *testing.T, config map[string]string) *storehost.Host {
	t.Helper()
	h, err := storehost.Open(t.Context(), storehost.Options{Name: "cloud", Path: pluginBinary(t), Config: config})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// The conformance suite against the real plugin process, on an in-process
// S3 server.
func TestConformanceBinary(t *testing.T) {
	srv := s3test.StartFake(t)
	storetest.Run(t, func(t *testing.T) sdk.Store { return openHost(t, srv.Config(t.Name())).Store() })
}

// Unknown config keys stop the plugin's start with the key named; so does
// a missing bucket, with the endpoint and the cause.
func TestBinaryStartupErrors(t *testing.T) {
	srv := s3test.StartFake(t)
	cfg := srv.Config("p")
	cfg["tabelname"] = "x"
	_, err := storehost.Open(t.Context(), storehost.Options{Name: "cloud", Path: pluginBinary(t), Config: cfg})
	if err == nil || !strings.Contains(err.Error(), "mimestore.tabelname") {
		t.Fatalf("Open with an unknown key: %v", err)
	}
	cfg = srv.Config("p")
	cfg["tablename"] = "no-such-bucket"
	_, err = storehost.Open(t.Context(), storehost.Options{Name: "cloud", Path: pluginBinary(t), Config: cfg})
	if err == nil || !strings.Contains(err.Error(), "NoSuchBucket") || !strings.Contains(err.Error(), srv.Endpoint) {
		t.Fatalf("Open with a missing bucket: %v", err)
	}
	t.Logf("missing bucket: %v", err)
}
