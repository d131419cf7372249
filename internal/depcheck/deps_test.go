// Package depcheck holds the test that enforces the module's dependency
// rules (DESIGN.md "Layout"): core/pop3/... imports only the standard
// library (and itself); sdk/... (tests included) never imports core/....
package depcheck

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/izyware/izypop3"

// listDeps runs go list over pattern (with the test packages if tests) and
// returns, for each package matched, the import paths of its non-standard
// dependencies.
func listDeps(t *testing.T, pattern string, tests bool) map[string][]string {
	t.Helper()
	args := []string{"list", "-e", "-f", "{{.ImportPath}}\t{{join .Deps \",\"}}"}
	if tests {
		args = append(args, "-test")
	}
	cmd := exec.Command("go", append(args, pattern)...)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pattern, err)
	}
	// Second pass: which of the deps are standard library.
	std := map[string]bool{}
	stdOut, err := exec.Command("go", "list", "-e", "-f", "{{.ImportPath}}", "std").Output()
	if err != nil {
		t.Fatalf("go list std: %v", err)
	}
	for _, p := range strings.Fields(string(stdOut)) {
		std[p] = true
	}
	res := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, list, ok := strings.Cut(line, "\t")
		if !ok {
			continue
		}
		var nonStd []string
		for _, d := range strings.Split(list, ",") {
			d = pkgOf(d)
			// vendor/ packages of the toolchain are standard.
			if d == "" || std[d] || strings.HasPrefix(d, "vendor/") || d == "C" {
				continue
			}
			nonStd = append(nonStd, d)
		}
		res[pkg] = nonStd
	}
	return res
}

// pkgOf strips the " [x.test]" suffix go list -test adds to the packages
// recompiled for a test, and the ".test" of a generated test main.
func pkgOf(importPath string) string {
	p, _, _ := strings.Cut(importPath, " ")
	return strings.TrimSuffix(strings.TrimSuffix(p, ".test"), "_test")
}

func TestSDKDoesNotImportCore(t *testing.T) {
	deps := listDeps(t, "./sdk/...", true)
	if len(deps) == 0 {
		t.Fatal("no packages matched ./sdk/...")
	}
	for pkg, ds := range deps {
		for _, d := range ds {
			if strings.HasPrefix(d, module+"/core/") || d == module+"/core" {
				t.Errorf("%s imports %s: sdk/... must never import core", pkg, d)
			}
		}
	}
}

func TestPOP3CoreIsStandardLibraryOnly(t *testing.T) {
	// Production code only: what a test of core/pop3 uses (goleak, …) is
	// not shipped.
	deps := listDeps(t, "./core/pop3/...", false)
	if len(deps) == 0 {
		t.Fatal("no packages matched ./core/pop3/...")
	}
	for pkg, ds := range deps {
		for _, d := range ds {
			if d == module+"/core/pop3" || strings.HasPrefix(d, module+"/core/pop3/") {
				continue // its own packages
			}
			t.Errorf("%s imports %s: core/pop3/... may use only the standard library", pkg, d)
		}
	}
}

// TestCheckerSeesViolations makes sure the listing really contains
// non-standard dependencies where they exist, so the two tests above cannot
// pass vacuously.
func TestCheckerSeesViolations(t *testing.T) {
	deps := listDeps(t, "./sdk", false)
	found := false
	for _, d := range deps[module+"/sdk"] {
		if strings.HasPrefix(d, "google.golang.org/grpc") {
			found = true
		}
	}
	if !found {
		t.Fatalf("go list shows no grpc dependency for sdk: %v", deps)
	}
}
