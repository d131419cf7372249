// Package depcheck holds the tests that enforce the module's dependency
// rules, each checked here and nowhere else:
//
//   - core/pop3/... (tests included) imports only the standard library and
//     its own packages: the POP3 core stays usable without the rest; its
//     tests may also use internal/testkit, which itself imports only the
//     standard library;
//   - sdk/... (tests included) never imports core/... or plugins/...: a
//     store author's dependency stays small, and the contract cannot lean
//     on izypop3's internals;
//   - plugins/... never imports core/...; a plugin's tests may import only
//     core/storehost, to run the built plugin binary the way izypop3 does;
//   - core/... (tests included) never imports plugins/...: core is tested
//     against sdk/storetest/memstore or its own test plugin;
//   - the packages that join core and sdk (a package under core/ that
//     imports sdk/..., or any package that imports both) are the ones listed
//     in joiners;
//   - no consumer under core/ or cmd/ finds out what a store can do through
//     its Info or sdk.ErrUnsupported: core/storehost decides once, and its
//     store value answers type assertions (see TestCapabilitiesDecidedOnce).
package depcheck

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/izyware/izypop3"

// pkg is one package as go list -test reports it: the package itself, its
// test variants and test mains each appear once.
type pkg struct {
	path    string   // import path, without the " [x.test]" of a test variant
	test    bool     // a test variant, test package or test main
	imports []string // direct imports
	deps    []string // all dependencies, non-standard only
}

// list runs go list -test over pattern.
func list(t *testing.T, pattern string) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-test", "-f",
		"{{.ImportPath}}\t{{join .Imports \",\"}}\t{{join .Deps \",\"}}\t{{.Standard}}", pattern)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pattern, err)
	}
	std := stdPackages(t)
	var res []pkg
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 4 || f[3] == "true" {
			continue
		}
		p := pkg{path: pkgOf(f[0])}
		p.test = p.path != f[0]
		for _, d := range strings.Split(f[1], ",") {
			if d = pkgOf(d); d != "" && !std[d] {
				p.imports = append(p.imports, d)
			}
		}
		for _, d := range strings.Split(f[2], ",") {
			// vendor/ packages of the toolchain are standard.
			if d = pkgOf(d); d != "" && !std[d] && !strings.HasPrefix(d, "vendor/") && d != "C" {
				p.deps = append(p.deps, d)
			}
		}
		res = append(res, p)
	}
	if len(res) == 0 {
		t.Fatalf("no packages matched %s", pattern)
	}
	return res
}

func stdPackages(t *testing.T) map[string]bool {
	t.Helper()
	out, err := exec.Command("go", "list", "-e", "-f", "{{.ImportPath}}", "std").Output()
	if err != nil {
		t.Fatalf("go list std: %v", err)
	}
	std := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		std[p] = true
	}
	return std
}

// pkgOf strips the " [x.test]" suffix go list -test adds to the packages
// recompiled for a test, and the ".test" or "_test" of a test main or
// external test package.
func pkgOf(importPath string) string {
	p, _, _ := strings.Cut(importPath, " ")
	return strings.TrimSuffix(strings.TrimSuffix(p, ".test"), "_test")
}

// under reports whether import path p is dir of the module or below it.
func under(p, dir string) bool {
	return p == module+"/"+dir || strings.HasPrefix(p, module+"/"+dir+"/")
}

// testkit is the shared test package the tests of core/pop3 may use.
const testkit = module + "/internal/testkit"

func TestPOP3CoreIsStandardLibraryOnly(t *testing.T) {
	kit := 0
	for _, p := range list(t, "./core/pop3/...") {
		for _, d := range p.deps {
			if d == testkit && p.test {
				kit++
				continue
			}
			if !under(d, "core/pop3") {
				t.Errorf("%s depends on %s: core/pop3/... may use only the standard library (its tests also %s)", p.path, d, testkit)
			}
		}
	}
	if kit == 0 {
		t.Errorf("no test under core/pop3 seen to use %s: is the test variant still told apart?", testkit)
	}
}

// TestTestkitIsStandardLibraryOnly: internal/testkit (not its
// subpackages) imports only the standard library, so that the tests of
// core/pop3 stay standard library only through it.
func TestTestkitIsStandardLibraryOnly(t *testing.T) {
	for _, p := range list(t, "./internal/testkit") {
		if p.test {
			continue
		}
		for _, d := range p.deps {
			t.Errorf("%s depends on %s: it may use only the standard library", p.path, d)
		}
	}
}

func TestSDKImportsNeitherCoreNorPlugins(t *testing.T) {
	for _, p := range list(t, "./sdk/...") {
		for _, d := range p.deps {
			if under(d, "core") || under(d, "plugins") {
				t.Errorf("%s depends on %s: sdk/... must never import core or plugins", p.path, d)
			}
		}
	}
}

// pluginTestImports are what a plugin's tests may import from core/.
var pluginTestImports = []string{module + "/core/storehost"}

func TestPluginsDoNotImportCore(t *testing.T) {
	prod := map[string]bool{}
	cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "./plugins/...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, d := range strings.Fields(string(out)) {
		prod[d] = true
		if under(d, "core") {
			t.Errorf("the plugins depend on %s: plugins/... must never import core", d)
		}
	}
	for _, p := range list(t, "./plugins/...") {
		for _, d := range p.imports {
			if under(d, "core") && !slices.Contains(pluginTestImports, d) {
				t.Errorf("%s (a test) imports %s: a plugin's tests may import only %v from core", p.path, d, pluginTestImports)
			}
		}
	}
	if len(prod) == 0 {
		t.Fatal("no packages under plugins/")
	}
}

func TestCoreDoesNotImportPlugins(t *testing.T) {
	for _, p := range list(t, "./core/...") {
		for _, d := range p.deps {
			if under(d, "plugins") {
				t.Errorf("%s depends on %s: core/... must never import plugins, not even in tests", p.path, d)
			}
		}
	}
}

// joiners are the packages that may join core and sdk (their tests
// included): the plugin host and the adapters over it, the self-test, the
// fetcher, the command, and the tests that run stores under the real server.
var joiners = []string{
	"core/storehost",                    // the host side of the plugin boundary
	"core/storehost/pop3backend",        // sdk.Store → pop3server.Backend
	"core/storehost/internal/teststore", // the store of the storehost tests
	"core/storehost/internal/testplugin",
	"core/selftest", // izypop3 test: the real server and client over any store
	"core/fetch",    // izypop3 clientpop3: the real client into any store
	"cmd/izypop3",   // wiring
	"test/interop",  // real peers against the real server over real stores
	"test/load",     // floods and slow clients against the real server over a real store
	"bench/vsdovecot",
	"internal/metrics",            // its tests count the calls of a real store plugin
	"internal/testkit/plugintest", // runs a plugin's binary under storehost
}

func TestJoinersAreListed(t *testing.T) {
	for _, p := range list(t, "./...") {
		core, sdk := under(p.path, "core"), false
		for _, d := range p.imports {
			core = core || under(d, "core")
			sdk = sdk || under(d, "sdk")
		}
		if !core || !sdk {
			continue
		}
		name := strings.TrimPrefix(p.path, module+"/")
		if under(p.path, "plugins") {
			continue // tests that run the built plugin: TestPluginsDoNotImportCore
		}
		if !slices.Contains(joiners, name) {
			t.Errorf("%s joins core and sdk but is not listed in joiners", name)
		}
	}
}

// capabilityFiles may name capabilities: core/storehost decides them, and
// izypop3 plugins prints them.
var capabilityFiles = map[string][]string{
	"core/storehost/launch.go": {"Capabilities"},
	"core/storehost/host.go":   {"Capabilities"},
	"cmd/izypop3/misc.go":      {"Capabilities"},
}

// TestCapabilitiesDecidedOnce: no production code under core/ or cmd/ but
// capabilityFiles reads Info.Capabilities, a Cap* name or
// sdk.ErrUnsupported. A consumer asks the store value with a type
// assertion instead.
func TestCapabilitiesDecidedOnce(t *testing.T) {
	root := "../.."
	fset := token.NewFileSet()
	seen := 0
	for _, dir := range []string{"core", "cmd"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			rel = filepath.ToSlash(rel)
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			seen++
			ast.Inspect(f, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				name := sel.Sel.Name
				bad := name == "ErrUnsupported" || name == "Capabilities"
				if x, ok := sel.X.(*ast.Ident); ok && x.Name == "pop3client" {
					bad = false // a POP3 server's CAPA answer, not a store's
				}
				if x, ok := sel.X.(*ast.Ident); ok && strings.HasPrefix(name, "Cap") && (x.Name == "sdk" || x.Name == "pluginhost") {
					bad = true
				}
				if bad && !slices.Contains(capabilityFiles[rel], name) {
					t.Errorf("%s: %s: consumers learn what a store can do by type assertion on the store value, not through %s",
						rel, fset.Position(sel.Pos()), name)
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if seen == 0 {
		t.Fatal("no Go files read under core/ and cmd/")
	}
}

// TestSDKFaceIsPlainGo: the documentation of package sdk, the store
// author's face, names no type of go-plugin, gRPC or hclog (those belong to
// sdk/pluginhost, the host's face).
func TestSDKFaceIsPlainGo(t *testing.T) {
	cmd := exec.Command("go", "doc", "-all", "./sdk")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go doc: %v", err)
	}
	if !strings.Contains(string(out), "func Serve(") {
		t.Fatalf("go doc -all ./sdk does not show Serve:\n%s", out)
	}
	for _, q := range []string{"plugin.", "grpc.", "hclog.", "codes.", "status.", "storev1."} {
		for i, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, q) {
				t.Errorf("go doc -all ./sdk line %d names %s…: %s", i+1, q, line)
			}
		}
	}
}

// TestNoOutsideDocuments: comments and docs describe the code; they do not
// point at documents that are not in the repository.
func TestNoOutsideDocuments(t *testing.T) {
	cmd := exec.Command("git", "ls-files")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("git ls-files: %v (not a git work tree?)", err)
	}
	bad := []string{"DESIGN" + ".md", "STYLE" + ".md", "STYLE" + " #"}
	for _, f := range strings.Fields(string(out)) {
		if !strings.HasSuffix(f, ".go") && !strings.HasSuffix(f, ".md") {
			continue
		}
		b, err := os.ReadFile(filepath.Join("../..", f))
		if err != nil {
			continue // deleted in the work tree
		}
		for _, w := range bad {
			if strings.Contains(string(b), w) {
				t.Errorf("%s refers to %s, which is not in the repository", f, w)
			}
		}
	}
}

// TestCheckerSeesViolations makes sure the listings really contain what
// the rules look for, so the tests above cannot pass vacuously.
func TestCheckerSeesViolations(t *testing.T) {
	found := false
	for _, p := range list(t, "./sdk") {
		for _, d := range p.deps {
			found = found || strings.HasPrefix(d, "google.golang.org/grpc")
		}
	}
	if !found {
		t.Error("go list shows no grpc dependency for sdk")
	}
	joins := false
	for _, p := range list(t, "./core/storehost/pop3backend") {
		for _, d := range p.imports {
			joins = joins || under(d, "sdk")
		}
	}
	if !joins {
		t.Error("go list shows no sdk import for core/storehost/pop3backend")
	}
}
