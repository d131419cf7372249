package main

import (
	"testing"

	"github.com/izyware/izypop3/internal/s3test"
	"github.com/izyware/izypop3/internal/testkit/plugintest"
)

// plugin is this package's binary, built once for its tests. Set
// IZYPOP3_CLOUD_BIN to use one built beforehand.
var plugin = plugintest.Plugin{Name: "cloud", Env: "IZYPOP3_CLOUD_BIN"}

func TestMain(m *testing.M) { plugintest.Main(m) }

// The conformance suite against the real plugin process, on an in-process
// S3 server.
func TestConformanceBinary(t *testing.T) {
	srv := s3test.StartFake(t)
	plugin.Conformance(t, func(t *testing.T) map[string]string { return srv.Config(t.Name()) })
}

// Unknown config keys stop the plugin's start with the key named; so does
// a missing bucket, with the endpoint and the cause.
func TestBinaryStartupErrors(t *testing.T) {
	srv := s3test.StartFake(t)
	cfg := srv.Config("p")
	cfg["tabelname"] = "x"
	plugin.OpenFails(t, cfg, "mimestore.tabelname")
	cfg = srv.Config("p")
	cfg["tablename"] = "no-such-bucket"
	err := plugin.OpenFails(t, cfg, "NoSuchBucket", srv.Endpoint)
	t.Logf("missing bucket: %v", err)
}
