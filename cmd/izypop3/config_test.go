package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/izyware/izypop3/internal/testkit"
)

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// stat logs in to the server on port and returns its STAT reply.
func stat(t *testing.T, port int, password string) string {
	t.Helper()
	r := pop3Session(t, port, "USER alice", "PASS "+password, "STAT", "QUIT")
	return r[3]
}

// A flag on the command line wins over the environment, which wins over the
// --config file, key by key (flags, store keys, the seed form).
func TestConfigPrecedence(t *testing.T) {
	pFile, pEnv, pFlag := testkit.FreePort(t), testkit.FreePort(t), testkit.FreePort(t)
	cfg := writeFile(t, "izypop3.toml", `# a server from a file
listen = "127.0.0.1"
port = `+strconv.Itoa(pFile)+`
password = "filepw"
auth-fail-delay = "10ms"
log-format = "json"

[mimestore]
modhandler = "fake"
count = 3
`)
	// The file alone.
	startServer(t, pFile, "serverpop3", "--config", cfg)
	if got := stat(t, pFile, "filepw"); !strings.HasPrefix(got, "+OK 3 ") {
		t.Errorf("file: STAT %q, want 3 messages", got)
	}
	// The environment over the file: port, password and a store key.
	env := []string{"IZYPOP3_PORT=" + strconv.Itoa(pEnv), "IZYPOP3_PASSWORD=envpw", "IZYPOP3_MIMESTORE_COUNT=4", "IZYPOP3_CONFIG=" + cfg}
	startServerEnv(t, env, pEnv, "serverpop3")
	if got := stat(t, pEnv, "envpw"); !strings.HasPrefix(got, "+OK 4 ") {
		t.Errorf("env: STAT %q, want 4 messages", got)
	}
	// Flags over both, in the flag form and the seed form.
	startServerEnv(t, env, pFlag, "serverpop3", "port", strconv.Itoa(pFlag), "--password=flagpw", "mimestore.count", "5")
	if got := stat(t, pFlag, "flagpw"); !strings.HasPrefix(got, "+OK 5 ") {
		t.Errorf("flags: STAT %q, want 5 messages", got)
	}
	if r := pop3Session(t, pFlag, "USER alice", "PASS envpw"); !strings.HasPrefix(r[2], "-ERR [AUTH]") {
		t.Errorf("the environment's password still works over the flag's: %q", r[2])
	}
}

// Every unknown key is named with its file and line; a bad value names the
// key and where it was set; all are bad command lines (exit 2).
func TestConfigStrict(t *testing.T) {
	for _, tt := range []struct {
		text string
		env  []string
		want string
	}{
		{"port = 1110\nprot = 1110\n", nil, `:2: unknown key "prot" for serverpop3 (did you mean "port"?)`},
		{"password = \"x\"\n\n[tls]\ncert = \"a\"\n", nil, `:4: unknown key "tls.cert" for serverpop3`},
		{"port = \"1110\"\n", nil, `:1: port: want an integer, not a string`},
		{"on-dele = \"shred\"\npassword = \"x\"\n", nil, `--on-dele "shred"`},
		{"port = 1110\n", []string{"IZYPOP3_PORT=x"}, `$IZYPOP3_PORT: port: "x" is not a valid integer`},
		{"port = \n", nil, `:1:`},
		{"modhandler = \"fake\"\n[mimestore]\nmodhandler = \"localfs\"\n", nil, `:3: mimestore.modhandler: already set as modhandler at`},
	} {
		cfg := writeFile(t, "bad.toml", tt.text)
		_, errOut, code := izypop3Env(t, tt.env, "", "serverpop3", "--config", cfg)
		if code != 2 || !strings.Contains(errOut, tt.want) {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 and %q", tt.text, code, errOut, tt.want)
		}
		if strings.Contains(tt.want, ":") && strings.HasPrefix(tt.want, ":") && !strings.Contains(errOut, cfg+tt.want) {
			t.Errorf("%q: stderr %q does not name the file %s", tt.text, errOut, cfg)
		}
	}
	_, errOut, code := izypop3(t, "", "serverpop3", "--config", filepath.Join(t.TempDir(), "none.toml"))
	if code != 2 || !strings.Contains(errOut, "none.toml") {
		t.Errorf("missing file: exit %d, %q", code, errOut)
	}
	// Commands without --config refuse the flag.
	_, errOut, code = izypop3(t, "", "plugins", "--config", "x")
	if code != 2 || !strings.Contains(errOut, "unknown flag: --config") {
		t.Errorf("plugins --config: exit %d, %q", code, errOut)
	}
}

// Environment variables reach every command's flags, store keys included.
func TestConfigEnv(t *testing.T) {
	out, errOut, code := izypop3Env(t, []string{"IZYPOP3_TESTTYPE=mimestore", "IZYPOP3_QUERY_LIMIT=2",
		"IZYPOP3_MIMESTORE_COUNT=5", "IZYPOP3_PLUGIN_DIR=" + binDir}, "", "test")
	if code != 0 || !strings.Contains(out, "2 items listed") || !regexp.MustCompile(`(?m)^total +5 `).MatchString(out) {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	// A command that starts no store ignores the store's variables.
	if _, errOut, code := izypop3Env(t, []string{"IZYPOP3_MIMESTORE_PATH=/x"}, "", "version"); code != 0 {
		t.Errorf("version with IZYPOP3_MIMESTORE_PATH: exit %d, %q", code, errOut)
	}
}

func TestPasswordFile(t *testing.T) {
	pw := writeFile(t, "pw", "s3cret\nignored\n")
	p := testkit.FreePort(t)
	startServer(t, p, "serverpop3", "--port", strconv.Itoa(p), "--password-file", pw, "--auth-fail-delay=10ms")
	if r := pop3Session(t, p, "USER alice", "PASS s3cret", "QUIT"); !strings.HasPrefix(r[2], "+OK") {
		t.Errorf("login with --password-file: %q", r[2])
	}
	for _, args := range [][]string{
		{"--password-file", pw, "--password", "x"},
		{"--password-file", filepath.Join(t.TempDir(), "none")},
		{"--password-file", writeFile(t, "empty", "\n")},
	} {
		_, errOut, code := izypop3(t, "", append([]string{"serverpop3"}, args...)...)
		if code != 2 || !strings.Contains(errOut, "password") {
			t.Errorf("%q: exit %d, %q", args, code, errOut)
		}
	}
}

// The configuration files shown in the docs are valid: every key and value
// is taken by the command they are written for.
func TestDocConfigFiles(t *testing.T) {
	for doc, newCmd := range map[string]func() *cobra.Command{
		"../../docs/guide.md":  newServerCmd,
		"../../docs/client.md": newClientCmd,
	} {
		text, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		blocks := regexp.MustCompile("(?s)```toml\n(.*?)```").FindAllStringSubmatch(string(text), -1)
		if len(blocks) == 0 {
			t.Fatalf("%s: no toml block", doc)
		}
		for i, b := range blocks {
			cfg := writeFile(t, "doc.toml", b[1])
			cmd := newCmd()
			if err := cmd.ParseFlags([]string{"--config", cfg}); err != nil {
				t.Fatal(err)
			}
			store, _, err := resolveConfig(cmd, nil, nil)
			if err != nil {
				t.Errorf("%s block %d: %v", doc, i+1, err)
				continue
			}
			if store["path"] == "" || cmd.Flags().Lookup("modhandler").Value.String() != "localfs" {
				t.Errorf("%s block %d: store %v, modhandler %s", doc, i+1, store, cmd.Flags().Lookup("modhandler").Value)
			}
		}
	}
}

// clientpop3 reads the same format: its flags as keys, [mimestore] for
// the store.
func TestClientConfigFile(t *testing.T) {
	p := fakeServer(t, 4, "pw")
	root := t.TempDir()
	cfg := writeFile(t, "fetch.toml", `ip = "127.0.0.1"
port = `+strconv.Itoa(p)+`
user = "alice"
pass-file = "`+writeFile(t, "pass", "pw\n")+`"
cmd = "list"

[mimestore]
modhandler = "localfs"
path = "`+root+`"
`)
	out, errOut, code := izypop3(t, "", "clientpop3", "--config", cfg)
	if code != 0 || len(lines(out)) != 4 || strings.Contains(out, "held") {
		t.Fatalf("list from the file: exit %d, %q, %s", code, out, errOut)
	}
	out, errOut, code = izypop3Env(t, []string{"IZYPOP3_CMD=sync"}, "", "clientpop3", "--config", cfg)
	if code != 0 || !strings.HasPrefix(out, "fetched 4 ") || len(emlFiles(t, filepath.Join(root, "alice"))) != 4 {
		t.Fatalf("sync from the environment over the file: exit %d, %q, %s", code, out, errOut)
	}
	bad := writeFile(t, "bad.toml", "ip = \"127.0.0.1\"\nusr = \"alice\"\n")
	_, errOut, code = izypop3(t, "", "clientpop3", "--config", bad)
	if code != 2 || !strings.Contains(errOut, bad+`:2: unknown key "usr" for clientpop3 (did you mean "user"?)`) {
		t.Errorf("unknown key: exit %d, %q", code, errOut)
	}
	_, errOut, code = izypop3(t, "", "clientpop3", "ip", "127.0.0.1", "usr", "alice")
	if code != 2 || !strings.Contains(errOut, `unknown option "usr" for clientpop3 (did you mean "user"?)`) {
		t.Errorf("seed-form typo: exit %d, %q", code, errOut)
	}
}
