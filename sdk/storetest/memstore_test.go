package storetest

import "github.com/izyware/izypop3/sdk/storetest/memstore"

// newMemStore returns the reference store the suite is tested against (and
// that the mutants of mutants_test.go break on purpose).
func newMemStore() *memstore.Store { return memstore.New() }
