// Command notice writes the NOTICE file: the third-party Go modules built
// into izypop3's binaries, the licence of each, and the NOTICE text of those
// that ship one (Apache-2.0 section 4(d) asks to pass it on).
//
//	go run ./internal/notice > NOTICE
//
// Its test fails when NOTICE is not what it writes for the current go.mod.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// binaries are the packages whose dependencies are shipped.
var binaries = []string{"./cmd/...", "./plugins/..."}

type module struct {
	Path, Version, Dir string
}

func main() {
	if err := write(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "notice:", err)
		os.Exit(1)
	}
}

func write(w io.Writer) error {
	mods, err := shipped()
	if err != nil {
		return err
	}
	fmt.Fprint(w, `izypop3
Copyright 2026 the izypop3 authors. Licensed under the Apache License,
Version 2.0 (see LICENSE).

The izypop3 binaries include the following third-party Go modules, each
under its own licence (the full texts are in each module's source, for
example at https://pkg.go.dev/MODULE?tab=licenses). The Mozilla Public
License 2.0 modules are used unmodified; their source is available from
the module path and version given. Like every Go program they also
include the Go standard library (BSD-3-Clause, https://go.dev/LICENSE).

`)
	var notices []string
	for _, m := range mods {
		lic, err := licence(m.Dir)
		if err != nil {
			return fmt.Errorf("%s: %w", m.Path, err)
		}
		fmt.Fprintf(w, "  %-48s %-36s %s\n", m.Path, m.Version, lic)
		for _, n := range []string{"NOTICE", "NOTICE.txt", "NOTICE.md"} {
			if b, err := os.ReadFile(filepath.Join(m.Dir, n)); err == nil {
				notices = append(notices, fmt.Sprintf("---- %s %s: %s\n\n%s\n", m.Path, m.Version, n, strings.TrimSpace(string(b))))
			}
		}
	}
	if len(notices) > 0 {
		fmt.Fprint(w, "\nNOTICE files of these modules follow.\n\n")
		fmt.Fprint(w, strings.Join(notices, "\n"))
	}
	return nil
}

// shipped lists the modules of every package linked into the binaries.
func shipped() ([]module, error) {
	args := append([]string{"list", "-deps", "-json=Module"}, binaries...)
	out, err := exec.Command("go", args...).Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w", err)
	}
	seen := map[string]module{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p struct{ Module *module }
		if err := dec.Decode(&p); err != nil {
			return nil, err
		}
		if p.Module == nil || p.Module.Version == "" { // the standard library, this module
			continue
		}
		seen[p.Module.Path] = *p.Module
	}
	mods := make([]module, 0, len(seen))
	for _, m := range seen {
		mods = append(mods, m)
	}
	slices.SortFunc(mods, func(a, b module) int { return strings.Compare(a.Path, b.Path) })
	return mods, nil
}

// licence names the licence of the module in dir from its licence file.
func licence(dir string) (string, error) {
	for _, n := range []string{"LICENSE", "LICENSE.txt", "LICENSE.md", "COPYING"} {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			continue
		}
		t := strings.Join(strings.Fields(string(b)), " ")
		switch {
		case strings.Contains(t, "Apache License") && strings.Contains(t, "Version 2.0"):
			return "Apache-2.0", nil
		case strings.Contains(t, "Mozilla Public License") && strings.Contains(t, "2.0"):
			return "MPL-2.0", nil
		case strings.Contains(t, "Permission is hereby granted, free of charge"):
			return "MIT", nil
		case strings.Contains(t, "Redistribution and use in source and binary forms") && strings.Contains(t, "Neither the name"):
			return "BSD-3-Clause", nil
		case strings.Contains(t, "Redistribution and use in source and binary forms"):
			return "BSD-2-Clause", nil
		case strings.Contains(t, "Permission to use, copy, modify, and/or distribute this software for any"):
			return "ISC", nil
		}
		return "", fmt.Errorf("%s: licence not recognised", n)
	}
	return "", fmt.Errorf("no licence file in %s", dir)
}
