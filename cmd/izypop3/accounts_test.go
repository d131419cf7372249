package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/izyware/izypop3/core/fetch"
	"github.com/izyware/izypop3/internal/config"
	"github.com/izyware/izypop3/internal/testkit"
)

// accountLines returns the stdout lines of account name ("name: ..."),
// prefix stripped.
func accountLines(out, name string) []string {
	var ls []string
	for _, l := range lines(out) {
		if rest, ok := strings.CutPrefix(l, name+": "); ok {
			ls = append(ls, rest)
		}
	}
	return ls
}

// Two accounts of one --config file, on two servers, synced in parallel:
// one into the file's shared store, one into a store of its own.
func TestClientAccounts(t *testing.T) {
	p1, p2 := fakeServer(t, 3, "pw1"), fakeServer(t, 5, "pw2")
	shared, own := t.TempDir(), t.TempDir()
	cfg := writeFile(t, "fetch.toml", fmt.Sprintf(`# every account
ip = "127.0.0.1"
parallel = 2

[mimestore]
modhandler = "localfs"
path = %q

[account.one]
port = %d
user = "alice"
pass = "pw1"

[account.two]
port = %d
user = "bob"
pass-file = %q
[account.two.mimestore]
path = %q
`, shared, p1, p2, writeFile(t, "pass", "pw2\n"), own))
	out, errOut, code := izypop3(t, "", "clientpop3", "--config", cfg)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for name, want := range map[string]string{"one": "fetched 3 ", "two": "fetched 5 "} {
		if l := accountLines(out, name); len(l) != 1 || !strings.HasPrefix(l[0], want) {
			t.Errorf("%s: summary %q, want one line %q...\n%s", name, l, want, out)
		}
	}
	if n := len(emlFiles(t, filepath.Join(shared, "alice"))); n != 3 {
		t.Errorf("one: %d files in the shared store, want 3", n)
	}
	if n := len(emlFiles(t, filepath.Join(own, "bob"))); n != 5 {
		t.Errorf("two: %d files in its own store, want 5", n)
	}
	if n := len(emlFiles(t, filepath.Join(shared, "bob"))); n != 0 {
		t.Errorf("two: %d files in the shared store, want 0", n)
	}
	// A rerun fetches nothing; --account picks accounts.
	out, errOut, code = izypop3(t, "", "clientpop3", "--config", cfg, "--account", "two")
	if code != 0 || len(lines(out)) != 1 || !strings.HasPrefix(out, "two: fetched 0 ") {
		t.Errorf("--account two: exit %d\n%s%s", code, out, errOut)
	}
	_, errOut, code = izypop3(t, "", "clientpop3", "--config", cfg, "--account", "three")
	if code != exitUsage || !strings.Contains(errOut, `--account "three"`) {
		t.Errorf("--account three: exit %d, %q", code, errOut)
	}
}

// Precedence, key by key: the command line over the environment over the
// account's block over the top of the file.
func TestClientAccountsPrecedence(t *testing.T) {
	p1, p2 := fakeServer(t, 6, "pw"), fakeServer(t, 6, "pw")
	root := t.TempDir()
	cfg := writeFile(t, "fetch.toml", fmt.Sprintf(`ip = "127.0.0.1"
pass = "pw"
limit = 1
modhandler = "localfs"
mimestore.path = %q

[account.one]
port = %d
user = "alice"
limit = 2

[account.two]
port = %d
user = "bob"
`, root, p1, p2))
	for _, step := range []struct {
		env       []string
		args      []string
		one, two  int // fetched by this run
		totalOne  int
		totalTwo  int
		situation string
	}{
		{nil, nil, 2, 1, 2, 1, "the block over the top"},
		{[]string{"IZYPOP3_LIMIT=1"}, nil, 1, 1, 3, 2, "the environment over the block"},
		{[]string{"IZYPOP3_LIMIT=1"}, []string{"--limit", "2"}, 2, 2, 5, 4, "the command line over the environment"},
	} {
		out, errOut, code := izypop3Env(t, step.env, "", append([]string{"clientpop3", "--config", cfg}, step.args...)...)
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s%s", step.situation, code, out, errOut)
		}
		for name, n := range map[string]int{"one": step.one, "two": step.two} {
			if l := accountLines(out, name); len(l) != 1 || !strings.HasPrefix(l[0], "fetched "+strconv.Itoa(n)+" ") {
				t.Errorf("%s: %s: %q, want fetched %d", step.situation, name, l, n)
			}
		}
		if n := len(emlFiles(t, filepath.Join(root, "alice"))); n != step.totalOne {
			t.Errorf("%s: one holds %d, want %d", step.situation, n, step.totalOne)
		}
		if n := len(emlFiles(t, filepath.Join(root, "bob"))); n != step.totalTwo {
			t.Errorf("%s: two holds %d, want %d", step.situation, n, step.totalTwo)
		}
	}
}

// One account's login is refused, the other's works: the good one is
// synced, the run exits with the failing account's code (3), and says which.
func TestClientAccountsExitCode(t *testing.T) {
	p := fakeServer(t, 2, "pw")
	closed := testkit.FreePort(t)
	root := t.TempDir()
	cfg := writeFile(t, "fetch.toml", fmt.Sprintf(`ip = "127.0.0.1"
port = %d
modhandler = "localfs"
mimestore.path = %q

[account.good]
user = "alice"
pass = "pw"

[account.badpass]
user = "bob"
pass = "wrong"

[account.down]
port = %d
user = "carol"
pass = "pw"
`, p, root, closed))
	out, errOut, code := izypop3(t, "", "clientpop3", "--config", cfg)
	if code != exitAuth {
		t.Errorf("exit %d, want %d (the first failing account's)\n%s%s", code, exitAuth, out, errOut)
	}
	if l := accountLines(out, "good"); len(l) != 1 || !strings.HasPrefix(l[0], "fetched 2 ") {
		t.Errorf("good: %q\n%s", l, out)
	}
	if n := len(emlFiles(t, filepath.Join(root, "alice"))); n != 2 {
		t.Errorf("good: %d files, want 2", n)
	}
	if !strings.Contains(errOut, "badpass: izypop3: ") || !strings.Contains(errOut, "down: izypop3: ") ||
		!strings.Contains(errOut, "izypop3: 2 of 3 accounts failed: badpass, down\n") {
		t.Errorf("stderr does not name the failed accounts:\n%s", errOut)
	}
	// Without the bad password, the connection failure decides: 4.
	_, _, code = izypop3(t, "", "clientpop3", "--config", cfg, "--account", "good,down")
	if code != exitNetwork {
		t.Errorf("good and down: exit %d, want %d", code, exitNetwork)
	}
}

// A typo in an account's block is named with file and line; so is a key
// that is for every account.
func TestClientAccountsStrict(t *testing.T) {
	for _, tt := range []struct{ text, want string }{
		{"ip = \"h\"\n[account.a]\nuser = \"u\"\npass = \"p\"\n\n[account.b]\nusr = \"u\"\n",
			`:7: unknown key "usr" for [account.b] (did you mean "user"?)`},
		{"[account.a]\nuser = \"u\"\n[account.a.mimestore]\nmodhandler = \"fake\"\nmodhandler = \"x\"\n", `:5:`},
		{"[account.a]\nip = \"h\"\nuser = \"u\"\npass = \"p\"\ninterval = \"5m\"\n",
			`:5: interval is for every account: set it at the top of the file`},
		{"[account.a]\nip = \"h\"\nuser = \"u\"\npass = \"p\"\nport = \"110\"\n", `:5: port: want an integer, not a string`},
		{"account = [\"a\"]\nip = \"h\"\nuser = \"u\"\npass = \"p\"\n", `--account needs a --config file with [account.NAME] tables`},
		{"[account.a]\nip = \"h\"\npass = \"p\"\ncmd = \"list\"\n", `[account.a]: --user is required`},
	} {
		cfg := writeFile(t, "bad.toml", tt.text)
		_, errOut, code := izypop3(t, "", "clientpop3", "--config", cfg)
		if code != exitUsage || !strings.Contains(errOut, tt.want) {
			t.Errorf("%q: exit %d, %q; want exit 2 and %q", tt.text, code, errOut, tt.want)
		}
		if strings.HasPrefix(tt.want, ":") && !strings.Contains(errOut, cfg+tt.want) {
			t.Errorf("%q: %q does not name the file %s", tt.text, errOut, cfg)
		}
	}
}

func TestBackoff(t *testing.T) {
	var got []time.Duration
	for i := 1; i <= 7; i++ {
		got = append(got, backoff(time.Minute, i))
	}
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute, 16 * time.Minute, 16 * time.Minute}
	if !slices.Equal(got, want) {
		t.Errorf("backoff(1m, 1..7) = %v, want %v", got, want)
	}
	if d := backoff(10*time.Minute, 9); d != time.Hour {
		t.Errorf("backoff(10m, 9) = %v, want 1h", d)
	}
	if d := backoff(2*time.Hour, 9); d != 2*time.Hour {
		t.Errorf("backoff(2h, 9) = %v, want 2h", d)
	}
}

// The several-accounts file of docs/client.md means what the text says.
func TestDocAccountsFile(t *testing.T) {
	text, err := os.ReadFile("../../docs/client.md")
	if err != nil {
		t.Fatal(err)
	}
	var block string
	for _, b := range regexp.MustCompile("(?s)```toml\n(.*?)```").FindAllStringSubmatch(string(text), -1) {
		if strings.Contains(b[1], "[account.") {
			block = b[1]
		}
	}
	if block == "" {
		t.Fatal("docs/client.md: no toml block with [account.NAME] tables")
	}
	var f clientFlags
	cmd := &cobra.Command{Use: "clientpop3"}
	f.register(cmd)
	enableConfigFile(cmd, accountSection)
	if err := cmd.ParseFlags([]string{"--config", writeFile(t, "fetch.toml", block)}); err != nil {
		t.Fatal(err)
	}
	saved := []any{globalStoreConfig, storeConfigSrc, loadedConfig}
	defer func() {
		globalStoreConfig, storeConfigSrc, loadedConfig = saved[0].(map[string]string), saved[1].(map[string]string), saved[2].(*config.File)
	}()
	globalStoreConfig, storeConfigSrc, loadedConfig, err = resolveConfigSrc(cmd, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := clientJobs(cmd, f)
	if err != nil {
		t.Fatal(err)
	}
	if f.parallel != 2 || len(jobs) != 3 {
		t.Fatalf("parallel %d, %d accounts; want 2 and 3", f.parallel, len(jobs))
	}
	got := map[string]string{}
	for _, cj := range jobs {
		o := cj.opts
		got[cj.name] = fmt.Sprintf("%s tls=%d auth=%s delete-after=%s quiet=%t store=%s %v",
			o.Account.Addr, o.Account.TLS, o.Account.Auth, o.DeleteAfter, cj.f.quiet, cj.f.store.modhandler, cj.storeCfg)
	}
	want := map[string]string{
		"work":  fmt.Sprintf("pop.example.com:995 tls=%d auth= delete-after=720h0m0s quiet=true store=localfs map[path:/srv/mail/backup]", fetch.TLSImplicit),
		"gmail": fmt.Sprintf("pop.gmail.com:995 tls=%d auth=xoauth2 delete-after=0s quiet=true store=localfs map[path:/srv/mail/backup]", fetch.TLSImplicit),
		"home":  fmt.Sprintf("mail.home.example:110 tls=%d auth= delete-after=0s quiet=true store=localfs map[layout:maildir path:/srv/mail/home]", fetch.TLSStartTLS),
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s:\n got %s\nwant %s", name, got[name], w)
		}
	}
}
