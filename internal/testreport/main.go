// Command testreport reads `go test -json` on standard input and prints a
// short report: every skipped test with the reason it gave, the full output
// of every failed test, one result line per package (as `go test` prints
// them), and a closing "N passed, N failed, N skipped" line. While the tests
// run it prints a progress line to standard error as each package finishes.
// It exits 1 if anything failed, so no check is skipped silently and no
// failure hides.
//
//	go test -json -race ./... | go run ./internal/testreport
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

type key struct{ pkg, test string }

func main() {
	os.Exit(run())
}

func run() int {
	out := map[key]*strings.Builder{}
	var skipped, failed []key
	var pkgLines []string
	passed := 0
	failedPkgs := 0
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	done := 0
	progress := func(status string, e event) {
		done++
		fmt.Fprintf(os.Stderr, "  [%d] %-4s %s (%.1fs)\n", done, status, e.Package, e.Elapsed)
	}
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			fmt.Println(string(line)) // build errors and anything not JSON
			continue
		}
		k := key{e.Package, e.Test}
		switch e.Action {
		case "output", "build-output":
			b := out[k]
			if b == nil {
				b = &strings.Builder{}
				out[k] = b
			}
			b.WriteString(e.Output)
		case "pass":
			if e.Test != "" {
				passed++
			} else {
				pkgLines = append(pkgLines, fmt.Sprintf("ok  \t%s\t%.3fs", e.Package, e.Elapsed))
				progress("ok", e)
			}
		case "skip":
			if e.Test != "" {
				skipped = append(skipped, k)
			} else {
				pkgLines = append(pkgLines, fmt.Sprintf("?   \t%s\t[no test files]", e.Package))
			}
		case "fail":
			if e.Test != "" {
				failed = append(failed, k)
			} else {
				failedPkgs++
				pkgLines = append(pkgLines, fmt.Sprintf("FAIL\t%s\t%.3fs", e.Package, e.Elapsed))
				progress("FAIL", e)
				if b := out[k]; b != nil && len(failed) == 0 {
					fmt.Print(b.String()) // a package that failed outside any test (build, TestMain)
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		return 1
	}
	reason := func(k key) string {
		b := out[k]
		if b == nil {
			return ""
		}
		var keep []string
		for _, l := range strings.Split(b.String(), "\n") {
			t := strings.TrimSpace(l)
			if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- ") {
				continue
			}
			keep = append(keep, "      "+t)
		}
		return strings.Join(keep, "\n")
	}
	sort.Slice(skipped, func(i, j int) bool {
		return skipped[i].pkg+skipped[i].test < skipped[j].pkg+skipped[j].test
	})
	if len(skipped) > 0 {
		fmt.Printf("---- %d skipped tests, with their reasons ----\n", len(skipped))
		for _, k := range skipped {
			fmt.Printf("  SKIP %s %s\n", k.pkg, k.test)
			if r := reason(k); r != "" {
				fmt.Println(r)
			}
		}
	}
	if len(failed) > 0 {
		fmt.Printf("---- %d failed tests, with their output ----\n", len(failed))
		for _, k := range failed {
			fmt.Printf("  FAIL %s %s\n", k.pkg, k.test)
			fmt.Println(reason(k))
		}
	}
	fmt.Println("---- packages ----")
	for _, l := range pkgLines {
		fmt.Println(l)
	}
	fmt.Printf("%d passed, %d failed, %d skipped\n", passed, len(failed), len(skipped))
	if len(failed) > 0 || failedPkgs > 0 {
		return 1
	}
	return 0
}
