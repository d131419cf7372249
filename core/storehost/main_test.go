package storehost

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Plugin binaries built once for the whole test binary (see TestMain).
var (
	pluginTest      string // teststore with Configurer, Checker, Locker
	pluginPlain     string // teststore without optional interfaces
	pluginProtocol2 string // speaks plugin protocol 2
	pluginCertLine  string // sends a server certificate the host did not ask for
)

// envIntermediate makes the test binary act as a host process for
// TestPdeathsig: it opens the plugin at that path, prints the plugin's pid
// and waits to be killed.
const envIntermediate = "STOREHOST_TEST_INTERMEDIATE_HOST"

func TestMain(m *testing.M) {
	if p := os.Getenv(envIntermediate); p != "" {
		runIntermediateHost(p)
		return
	}
	dir, err := os.MkdirTemp("", "storehost-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		defer Cleanup()
		for _, b := range []struct {
			dst     *string
			variant string
		}{{&pluginTest, ""}, {&pluginPlain, "plain"}, {&pluginProtocol2, "protocol2"}, {&pluginCertLine, "certline"}} {
			name := "test"
			if b.variant != "" {
				name = b.variant
			}
			*b.dst = filepath.Join(dir, BinaryPrefix+name)
			cmd := exec.Command("go", "build", "-ldflags", "-X main.variant="+b.variant, "-o", *b.dst, "./internal/testplugin")
			cmd.Stderr = os.Stderr
			if err := cmd.Run(); err != nil {
				fmt.Fprintln(os.Stderr, "building the test plugin:", err)
				return 1
			}
		}
		return m.Run()
	}()
	os.Exit(code)
}

func runIntermediateHost(path string) {
	h, err := Open(context.Background(), Options{Name: "test", Path: path})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println(h.PID())
	select {} // until SIGKILL
}
