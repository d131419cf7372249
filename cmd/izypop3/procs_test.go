package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/izyware/izypop3/internal/testkit"
)

func TestFetchProcs(t *testing.T) {
	for _, c := range []struct {
		active, procs int
		env           string
		want          int
	}{
		{1, 2, "", 1},
		{1, 16, "", 1},
		{4, 2, "", 2},
		{3, 16, "", 3},
		{0, 2, "", 1},
		{1, 2, "2", 0}, // the user's GOMAXPROCS is kept
	} {
		if got := fetchProcs(c.active, c.procs, c.env); got != c.want {
			t.Errorf("fetchProcs(%d, %d, %q) = %d, want %d", c.active, c.procs, c.env, got, c.want)
		}
	}
}

// The store plugin of a one-account clientpop3 run gets GOMAXPROCS=1, or
// the user's GOMAXPROCS when it is set.
func TestClientPluginGOMAXPROCS(t *testing.T) {
	for _, user := range []string{"", "2"} {
		t.Run("GOMAXPROCS="+user, func(t *testing.T) {
			t.Setenv("GOMAXPROCS", user) // restored after the test
			if user == "" {
				os.Unsetenv("GOMAXPROCS")
			}
			srv := newHoldServer(t, nil, 3, 1)
			cmd, stdout, stderr, wait := startClient(t, "clientpop3", "--ip", "127.0.0.1", "--port", strconv.Itoa(srv.port()),
				"--user", "gina", "--pass", "pw", "--modhandler", "localfs", "--mimestore.path", t.TempDir())
			select {
			case <-srv.reached:
			case <-time.After(60 * time.Second):
				t.Fatalf("RETR 1 never came:\n%s\n%s", stdout, stderr)
			}
			env := pluginEnviron(t, cmd.Process.Pid)
			close(srv.release)
			if err := wait(); err != nil {
				t.Fatalf("clientpop3: %v\n%s\n%s", err, stdout, stderr)
			}
			want := "GOMAXPROCS=1"
			if user != "" {
				want = "GOMAXPROCS=" + user
			}
			var got []string
			for _, kv := range env {
				if strings.HasPrefix(kv, "GOMAXPROCS=") {
					got = append(got, kv)
				}
			}
			if len(got) != 1 || got[0] != want {
				t.Errorf("the plugin's environment has %q, want just %s", got, want)
			}
		})
	}
}

// pluginEnviron is the environment of the store plugin, the child of pid.
func pluginEnviron(t *testing.T, pid int) []string {
	t.Helper()
	child := storePlugin(t, pid)
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", child))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

func TestServePluginProcs(t *testing.T) {
	for _, c := range []struct {
		procs int
		env   string
		want  int
	}{
		{1, "", 1},
		{2, "", 1},
		{3, "", 1},
		{16, "", 8},
		{2, "4", 0}, // the user's GOMAXPROCS is kept
	} {
		if got := servePluginProcs(c.procs, c.env); got != c.want {
			t.Errorf("servePluginProcs(%d, %q) = %d, want %d", c.procs, c.env, got, c.want)
		}
	}
}

// serverpop3's store plugin gets half of izypop3's GOMAXPROCS, or the
// user's GOMAXPROCS when it is set.
func TestServerPluginGOMAXPROCS(t *testing.T) {
	for _, user := range []string{"", "3"} {
		t.Run("GOMAXPROCS="+user, func(t *testing.T) {
			t.Setenv("GOMAXPROCS", user) // restored after the test
			want := "GOMAXPROCS=" + user
			if user == "" {
				os.Unsetenv("GOMAXPROCS")
				// izypop3 starts with the default this test process has
				// (GOMAXPROCS unset, no -cpu flag).
				want = "GOMAXPROCS=" + strconv.Itoa(servePluginProcs(runtime.GOMAXPROCS(0), ""))
			}
			port := testkit.FreePort(t)
			cmd := startServer(t, port, "serverpop3", "--listen", "127.0.0.1", "--port", strconv.Itoa(port),
				"--password", "pw", "--modhandler", "localfs", "--mimestore.path", t.TempDir())
			var got []string
			for _, kv := range pluginEnviron(t, cmd.Process.Pid) {
				if strings.HasPrefix(kv, "GOMAXPROCS=") {
					got = append(got, kv)
				}
			}
			if len(got) != 1 || got[0] != want {
				t.Errorf("the plugin's environment has %q, want just %s", got, want)
			}
		})
	}
}
