package storehost

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/storetest"
)

// repoRoot is the root of this module (core/storehost is two levels down).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found: %v", err)
	}
	return root
}

// docsMarker precedes the example store's code block in docs/plugins.md.
const docsMarker = "<!-- docs/example-store/main.go:"

// docsExample returns the Go code block that follows docsMarker.
func docsExample(t *testing.T, doc string) string {
	t.Helper()
	_, rest, ok := strings.Cut(doc, docsMarker)
	if !ok {
		t.Fatalf("docs/plugins.md has no %q marker", docsMarker)
	}
	_, rest, ok = strings.Cut(rest, "```go\n")
	if !ok {
		t.Fatal("no ```go block after the marker")
	}
	code, _, ok := strings.Cut(rest, "```\n")
	if !ok {
		t.Fatal("unterminated code block")
	}
	return code
}

// TestDocsExampleStore proves that a third party can ship a store without
// touching the core: the example store of docs/plugins.md, built as its own
// module outside this repository (with a replace directive pointing here),
// is loaded by name from a plugin directory and does a Put/List/Fetch
// round trip.
func TestDocsExampleStore(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module outside the repository")
	}
	root := repoRoot(t)
	doc, err := os.ReadFile(filepath.Join(root, "docs", "plugins.md"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(root, "docs", "example-store", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	if docsExample(t, string(doc)) != string(src) {
		t.Fatal("the example in docs/plugins.md differs from docs/example-store/main.go; copy the file into the doc")
	}

	// A module of its own, outside this one.
	mod := t.TempDir()
	gomod := "module example.com/izypop3-store-memo\n\ngo 1.26\n\n" +
		"require github.com/izyware/izypop3 v0.0.0-00010101000000-000000000000\n\n" +
		"replace github.com/izyware/izypop3 => " + root + "\n"
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"go.mod": []byte(gomod), "go.sum": sum, "main.go": src} {
		if err := os.WriteFile(filepath.Join(mod, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pluginDir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", filepath.Join(pluginDir, BinaryPrefix+"memo"), ".")
	cmd.Dir = mod
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod -buildvcs=false", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build of the example store: %v\n%s", err, out)
	}

	ctx := context.Background()
	loc := Locator{PluginDir: pluginDir, NoExecutableDir: true, NoPATH: true}
	_, err = Open(ctx, Options{Name: "memo", Locator: loc, Config: map[string]string{"maxsize": "100", "colour": "red"}})
	if !errors.Is(err, sdk.ErrInvalid) || err.Error() != `unknown key "mimestore.colour" for store memo (it takes mimestore.maxsize)` {
		t.Errorf("unknown key: %v", err)
	}
	h, err := Open(ctx, Options{Name: "memo", Locator: loc, Config: map[string]string{"maxsize": "1048576"}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	info := h.Info()
	if info.Name != "memo" || info.Version != "1.0.0" || info.SDKVersion != sdk.Version {
		t.Errorf("Info = %+v", info)
	}
	body := "From: a@example.com\r\nSubject: third party\r\n\r\nhello from memo\r\n"
	res, err := h.Store().Put(ctx, "INBOX", sdk.PutOptions{SourceID: "pop3://u@h:110/1"}, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	items := storetest.List(t, h.Store(), "INBOX", sdk.TagUnread)
	if len(items) != 1 || items[0].UID != res.UID || items[0].Size != int64(len(body)) || items[0].WireSize != int64(len(body)) {
		t.Fatalf("List = %+v (Put %+v)", items, res)
	}
	if got := storetest.Fetch(t, h.Store(), "INBOX", res.UID); string(got) != body {
		t.Fatalf("Fetch = %q", got)
	}
	// maxsize was handed over: a larger message is refused.
	if _, err := h.Store().Put(ctx, "INBOX", sdk.PutOptions{}, strings.NewReader(strings.Repeat("x", 2<<20))); !errors.Is(err, sdk.ErrInvalid) {
		t.Errorf("Put over maxsize: %v", err)
	}
}
