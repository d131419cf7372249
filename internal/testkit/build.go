package testkit

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

type build struct {
	once sync.Once
	path string
	err  error
}

var (
	mu     sync.Mutex
	builds = map[string]*build{} // by package path
	dir    string
)

// Build returns the path of the binary of package pkg (an import path or a
// directory such as "."), named name, built with `go build` on first use.
// If the environment variable env is set, its value is used instead (a
// binary built beforehand). A build failure fails the test or benchmark.
func Build(tb testing.TB, pkg, name, env string) string {
	tb.Helper()
	if env != "" {
		if p := os.Getenv(env); p != "" {
			return p
		}
	}
	mu.Lock()
	b := builds[pkg]
	if b == nil {
		b = &build{}
		builds[pkg] = b
	}
	mu.Unlock()
	b.once.Do(func() {
		d, err := tempDir()
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(d, name)
		if out, err := exec.Command("go", "build", "-o", b.path, pkg).CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	})
	if b.err != nil {
		tb.Fatal(b.err)
	}
	return b.path
}

func tempDir() (string, error) {
	mu.Lock()
	defer mu.Unlock()
	if dir == "" {
		d, err := os.MkdirTemp("", "izypop3-testkit-")
		if err != nil {
			return "", err
		}
		dir = d
	}
	return dir, nil
}

// Cleanup removes the binaries built so far.
func Cleanup() {
	mu.Lock()
	defer mu.Unlock()
	if dir != "" {
		os.RemoveAll(dir)
		dir = ""
	}
	builds = map[string]*build{}
}
