package memstore_test

import (
	"testing"

	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/storetest"
	"github.com/izyware/izypop3/sdk/storetest/memstore"
)

// The reference store passes the conformance suite, directly and over gRPC.
// (The suite's own tests run it too, and check that it catches deliberately
// broken variants of this store.)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) sdk.Store { return memstore.New() })
}

func TestConformanceGRPC(t *testing.T) {
	storetest.RunGRPC(t, func(t *testing.T) sdk.Store { return memstore.New() })
}
