package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

type testFlags struct {
	listen  string
	port    int
	commit  bool
	tags    []string
	timeout time.Duration
	config  string
}

func newFlags(t *testing.T, args ...string) (*pflag.FlagSet, *testFlags) {
	t.Helper()
	var f testFlags
	fs := pflag.NewFlagSet("serverpop3", pflag.ContinueOnError)
	fs.StringVar(&f.listen, "listen", "127.0.0.1", "")
	fs.IntVar(&f.port, "port", 1110, "")
	fs.BoolVar(&f.commit, "commit", true, "")
	fs.StringSliceVar(&f.tags, "maildrop-tags", []string{"unread"}, "")
	fs.DurationVar(&f.timeout, "idle-timeout", 10*time.Minute, "")
	fs.StringVar(&f.config, "config", "", "")
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs, &f
}

func parse(t *testing.T, text string) *File {
	t.Helper()
	f, err := Parse("server.toml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

const sample = `# izypop3 server
listen = "0.0.0.0"
port = 110
commit = false
maildrop-tags = ["unread", "staged"]
idle-timeout = "15m"

[mimestore]
modhandler = "localfs"
path = "/srv/mail"
`

func TestFileValues(t *testing.T) {
	f := parse(t, sample)
	want := []string{"listen", "port", "commit", "maildrop-tags", "idle-timeout", "mimestore.modhandler", "mimestore.path"}
	if got := f.Keys(); !reflect.DeepEqual(got, want) {
		t.Fatalf("keys %q, want %q", got, want)
	}
	for key, w := range map[string]Value{
		"port":           {Key: "port", Text: "110", Kind: "integer", Src: "server.toml:3"},
		"commit":         {Key: "commit", Text: "false", Kind: "boolean", Src: "server.toml:4"},
		"maildrop-tags":  {Key: "maildrop-tags", Text: "unread,staged", List: []string{"unread", "staged"}, Kind: "array", Src: "server.toml:5"},
		"mimestore.path": {Key: "mimestore.path", Text: "/srv/mail", Kind: "string", Src: "server.toml:10"},
	} {
		if got, _ := f.Lookup(key); !reflect.DeepEqual(got, w) {
			t.Errorf("%s = %+v, want %+v", key, got, w)
		}
	}
}

// A dotted key, a table and an inline table are the same key; each knows
// its own line.
func TestFileKeyForms(t *testing.T) {
	f := parse(t, "a.b = 1\n[c]\nd = 2\n\n[e.f]\ng = 3\nh = { i = \"x\" }\n")
	for key, src := range map[string]string{"a.b": "server.toml:1", "c.d": "server.toml:3", "e.f.g": "server.toml:6", "e.f.h.i": "server.toml:7"} {
		v, ok := f.Lookup(key)
		if !ok || v.Src != src {
			t.Errorf("%s: %+v (found %v), want at %s", key, v, ok, src)
		}
	}
}

func TestFileErrors(t *testing.T) {
	for _, tt := range []struct{ text, want string }{
		{"port = \n", "server.toml:1:"},
		{"a = 1\nport = 1\nport = 2\n", "server.toml:3:"},
		{"a = 1\n[[x]]\nb = 1\n", "line 2: [[x]]: arrays of tables"},
		{"\n\nwhen = 1979-05-27\n", "server.toml:3: when: dates"},
		{"\"a.b\" = 1\n", "server.toml:1: key \"a.b\""},
		{"x = [[1], [2]]\n", "server.toml:1: x: array element"},
	} {
		_, err := Parse("server.toml", []byte(tt.text))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want it to contain %q", tt.text, err, tt.want)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.toml")
	os.WriteFile(p, []byte("port = 7\n"), 0o600)
	f, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := f.Lookup("port"); v.Src != p+":1" {
		t.Errorf("src %q", v.Src)
	}
	if _, err := Load(filepath.Join(dir, "none.toml")); err == nil || !strings.Contains(err.Error(), "none.toml") {
		t.Errorf("missing file: %v", err)
	}
	big := filepath.Join(dir, "big.toml")
	os.WriteFile(big, []byte("# "+strings.Repeat("x", MaxFileSize)+"\n"), 0o600)
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("big file: %v", err)
	}
}

// Command line > environment > file > default, flag by flag.
func TestPrecedence(t *testing.T) {
	file := parse(t, sample)
	fs, f := newFlags(t, "--port", "2110")
	env := []string{"IZYPOP3_LISTEN=10.0.0.1", "IZYPOP3_PORT=9", "IZYPOP3_IDLE_TIMEOUT=", "HOME=/root"}
	pass, err := Apply(fs, Options{File: file, Environ: env, Skip: []string{"config"}, Pass: []string{"mimestore"}})
	if err != nil {
		t.Fatal(err)
	}
	if f.port != 2110 {
		t.Errorf("port %d: the command line must win", f.port)
	}
	if f.listen != "10.0.0.1" {
		t.Errorf("listen %q: the environment must win over the file", f.listen)
	}
	if f.timeout != 15*time.Minute {
		t.Errorf("idle-timeout %v: an empty variable is unset, the file applies", f.timeout)
	}
	if f.commit || !reflect.DeepEqual(f.tags, []string{"unread", "staged"}) {
		t.Errorf("commit %v tags %q: from the file", f.commit, f.tags)
	}
	if pass["mimestore.path"].Text != "/srv/mail" || pass["mimestore.modhandler"].Text != "localfs" {
		t.Errorf("pass-through keys %+v", pass)
	}

	// Without a file, defaults stay.
	fs, f = newFlags(t)
	if _, err := Apply(fs, Options{}); err != nil {
		t.Fatal(err)
	}
	if f.port != 1110 || f.listen != "127.0.0.1" || !reflect.DeepEqual(f.tags, []string{"unread"}) {
		t.Errorf("defaults changed: %+v", f)
	}
}

func TestEnvPassKeys(t *testing.T) {
	fs, _ := newFlags(t)
	pass, err := Apply(fs, Options{
		File:    parse(t, "[mimestore]\npath = \"/file\"\ncount = 3\n"),
		Environ: []string{"IZYPOP3_MIMESTORE_PATH=/env", "IZYPOP3_MIMESTORE_=x"},
		Pass:    []string{"mimestore"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if v := pass["mimestore.path"]; v.Text != "/env" || v.Src != "$IZYPOP3_MIMESTORE_PATH" {
		t.Errorf("path %+v: the environment wins", v)
	}
	if v := pass["mimestore.count"]; v.Text != "3" {
		t.Errorf("count %+v", v)
	}
	if len(pass) != 2 {
		t.Errorf("pass %+v", pass)
	}
	// Without Pass, mimestore keys in the file are unknown.
	fs, _ = newFlags(t)
	_, err = Apply(fs, Options{File: parse(t, "[mimestore]\npath = \"/file\"\n")})
	if err == nil || !strings.Contains(err.Error(), `server.toml:2: unknown key "mimestore.path"`) {
		t.Errorf("err %v", err)
	}
}

func TestStrict(t *testing.T) {
	for _, tt := range []struct{ text, want string }{
		{"listen = \"x\"\nprot = 110\n", `server.toml:2: unknown key "prot" for serverpop3 (did you mean "port"?)`},
		{"\n\nbogus = 1\n", `server.toml:3: unknown key "bogus" for serverpop3`},
		{"config = \"other.toml\"\n", `server.toml:1: unknown key "config"`},
		{"port = 1.5\n", `server.toml:1: port: want an integer, not a float`},
		{"port = [1, 2]\n", `server.toml:1: port: want an integer, not an array`},
		{"listen = [\"a\"]\n", `server.toml:1: listen: want one value, not an array`},
		{"commit = 1\n", `server.toml:1: commit: want a boolean, not an integer`},
		{"port = \"110\"\n", `server.toml:1: port: want an integer, not a string`},
		{"idle-timeout = 600\n", `server.toml:1: idle-timeout: "600" is not a valid duration`},
		{"[account]\nport = 1\n", `server.toml:2: account.port: want [account.NAME] tables`},
	} {
		fs, _ := newFlags(t)
		_, err := Apply(fs, Options{File: parse(t, tt.text), Skip: []string{"config"}, Sections: []string{"account"}, Command: "serverpop3"})
		if err == nil || err.Error() != tt.want && !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want %q", tt.text, err, tt.want)
		}
	}
	fs, _ := newFlags(t)
	_, err := Apply(fs, Options{Environ: []string{"IZYPOP3_PORT=x"}})
	if err == nil || err.Error() != `$IZYPOP3_PORT: port: "x" is not a valid integer` {
		t.Errorf("env error %v", err)
	}
}

// [account.NAME] tables: the caller applies each to its own flag set.
func TestSections(t *testing.T) {
	file := parse(t, "log-level = \"info\"\n[account.work]\nport = 995\nlisten = \"pop.example.com\"\n[account.home]\nport = 110\n[account.home.mimestore]\npath = \"/m\"\n")
	if got := file.Names("account"); !reflect.DeepEqual(got, []string{"work", "home"}) {
		t.Fatalf("names %q", got)
	}
	home := file.Sub("account.home")
	fs, f := newFlags(t)
	pass, err := Apply(fs, Options{File: home, Pass: []string{"mimestore"}})
	if err != nil {
		t.Fatal(err)
	}
	if f.port != 110 || pass["mimestore.path"].Text != "/m" || pass["mimestore.path"].Src != "server.toml:8" {
		t.Errorf("home: port %d pass %+v", f.port, pass)
	}
	fs, f = newFlags(t)
	if _, err := Apply(fs, Options{File: file.Sub("account.work")}); err != nil || f.port != 995 || f.listen != "pop.example.com" {
		t.Errorf("work: %v port %d listen %q", err, f.port, f.listen)
	}
}

func TestEnvName(t *testing.T) {
	for in, want := range map[string]string{"plugin-dir": "IZYPOP3_PLUGIN_DIR", "mimestore.path": "IZYPOP3_MIMESTORE_PATH", "port": "IZYPOP3_PORT"} {
		if got := EnvName(in); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSuggest(t *testing.T) {
	keys := []string{"port", "password", "pop3s-port", "listen", "users"}
	for in, want := range map[string]string{"prot": "port", "pasword": "password", "user": "users", "xyz": "", "p": ""} {
		if got := Suggest(in, keys); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", in, got, want)
		}
	}
}

// mimestore.modhandler is the modhandler flag, in the file and the environment.
func TestAliases(t *testing.T) {
	run := func(text string, env ...string) (string, map[string]Value, error) {
		fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
		mod := fs.String("modhandler", "fake", "")
		pass, err := Apply(fs, Options{File: parse(t, text), Environ: env, Pass: []string{"mimestore"},
			Aliases: map[string]string{"mimestore.modhandler": "modhandler"}})
		return *mod, pass, err
	}
	mod, pass, err := run("[mimestore]\nmodhandler = \"localfs\"\npath = \"/p\"\n")
	if err != nil || mod != "localfs" || len(pass) != 1 {
		t.Errorf("file alias: %v %q %+v", err, mod, pass)
	}
	mod, pass, err = run("modhandler = \"localfs\"\n", "IZYPOP3_MIMESTORE_MODHANDLER=cloud")
	if err != nil || mod != "cloud" || len(pass) != 0 {
		t.Errorf("env alias: %v %q %+v", err, mod, pass)
	}
	_, _, err = run("modhandler = \"a\"\n[mimestore]\nmodhandler = \"b\"\n")
	if err == nil || !strings.Contains(err.Error(), "server.toml:3: mimestore.modhandler: already set as modhandler at server.toml:1") {
		t.Errorf("both: %v", err)
	}
}
