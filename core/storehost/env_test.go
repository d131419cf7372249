package storehost

import (
	"slices"
	"testing"

	plugin "github.com/hashicorp/go-plugin"
)

// Options.Env replaces the host's variables of the same name in the
// plugin's environment and cannot replace the socket directory.
func TestPluginEnvExtra(t *testing.T) {
	t.Setenv("GOMAXPROCS", "7")
	env := pluginEnv("/sock", false, []string{"GOMAXPROCS=1", "IZYPOP3_TEST_X=y"})
	if slices.Contains(env, "GOMAXPROCS=7") || !slices.Contains(env, "GOMAXPROCS=1") || !slices.Contains(env, "IZYPOP3_TEST_X=y") {
		t.Fatalf("environment %q: want GOMAXPROCS=1 (not the host's 7) and IZYPOP3_TEST_X=y", env)
	}
	if env[len(env)-1] != plugin.EnvUnixSocketDir+"=/sock" {
		t.Fatalf("last variable %q, want the socket directory", env[len(env)-1])
	}
	if got := pluginEnv("/sock", false, nil); !slices.Contains(got, "GOMAXPROCS=7") {
		t.Fatalf("without Env the host's variables pass: %q", got)
	}
}
