package main

import (
	"bytes"
	"os"
	"testing"
)

// NOTICE at the top of the repository is current: run
// `go run ./internal/notice > NOTICE` after changing go.mod.
func TestNoticeCurrent(t *testing.T) {
	var b bytes.Buffer
	if err := os.Chdir("../.."); err != nil {
		t.Fatal(err)
	}
	if err := write(&b); err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile("NOTICE")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, b.Bytes()) {
		t.Fatalf("NOTICE is stale: run 'go run ./internal/notice > NOTICE' and commit. Want:\n%s", b.String())
	}
}
