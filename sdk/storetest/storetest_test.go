package storetest

import (
	"testing"

	"github.com/izyware/izypop3/sdk"
)

func TestRunMemStore(t *testing.T) {
	Run(t, func(t *testing.T) sdk.Store { return newMemStore() })
}

func TestRunGRPCMemStore(t *testing.T) {
	RunGRPC(t, func(t *testing.T) sdk.Store { return newMemStore() })
}
