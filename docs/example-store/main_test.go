package main

import (
	"testing"

	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/storetest"
)

func newStore(t *testing.T) sdk.Store {
	s := New()
	if err := s.Configure(t.Context(), map[string]string{"maxsize": "104857600"}); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestConformance runs the store through the conformance suite directly...
func TestConformance(t *testing.T) { storetest.Run(t, newStore) }

// ...and across real gRPC, the way izypop3 sees the plugin.
func TestConformanceGRPC(t *testing.T) { storetest.RunGRPC(t, newStore) }
