package cloudstore_test

import (
	"testing"

	"github.com/izyware/izypop3/internal/s3test"
	"github.com/izyware/izypop3/plugins/cloud/cloudstore"
	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/storetest"
)

// newStore returns a store on a fresh prefix of srv's bucket.
func newStore(t *testing.T, srv *s3test.Server, extra map[string]string) *cloudstore.Store {
	t.Helper()
	s := cloudstore.New(nil)
	cfg := srv.Config(t.Name())
	for k, v := range extra {
		cfg[k] = v
	}
	if err := s.Configure(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	srv := s3test.StartFake(t)
	storetest.Run(t, func(t *testing.T) sdk.Store { return newStore(t, srv, nil) })
}

func TestConformanceGRPC(t *testing.T) {
	srv := s3test.StartFake(t)
	storetest.RunGRPC(t, func(t *testing.T) sdk.Store { return newStore(t, srv, nil) })
}

// The suite once against a real SeaweedFS (SigV4 checked, real listing,
// conditional writes and copy semantics).
func TestConformanceSeaweed(t *testing.T) {
	srv := s3test.StartSeaweed(t)
	storetest.Run(t, func(t *testing.T) sdk.Store { return newStore(t, srv.Server, nil) })
}
