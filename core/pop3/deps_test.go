package pop3

import (
	"os/exec"
	"strings"
	"testing"
)

// TestStandardLibraryOnly: core/pop3/... (tests included) imports nothing
// outside the standard library and core/pop3 itself (DESIGN.md, dependency
// rules).
func TestStandardLibraryOnly(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not found")
	}
	const self = "github.com/izyware/izypop3/core/pop3"
	out, err := exec.Command(goTool, "list", "-deps", "-test",
		"-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", self+"/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		p = strings.Fields(strings.ReplaceAll(p, "[", " "))[0] // "pkg [pkg.test]" forms
		if p != self && !strings.HasPrefix(p, self+"/") && !strings.HasPrefix(p, self+".") {
			t.Errorf("core/pop3 depends on %s", p)
		}
	}
}
