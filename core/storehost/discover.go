package storehost

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// BinaryPrefix is how the name of every store plugin binary starts: the
// store "fake" is the executable izypop3-store-fake.
const BinaryPrefix = "izypop3-store-"

// EnvPluginDir names the environment variable that sets the plugin directory
// when no --plugin-dir is given.
const EnvPluginDir = "IZYPOP3_PLUGIN_DIR"

// maxNameLen bounds a store name (the part after BinaryPrefix).
const maxNameLen = 64

// ErrNoPlugin is returned by Find when no binary for the store exists.
var ErrNoPlugin = errors.New("store plugin not found")

// Locator says where store binaries are looked for. The zero value searches
// IZYPOP3_PLUGIN_DIR, the directory of the running executable and PATH.
type Locator struct {
	// PluginDir is the --plugin-dir flag. Empty means the environment
	// variable IZYPOP3_PLUGIN_DIR; if that is empty too, no plugin dir.
	PluginDir string
	// NoExecutableDir skips the directory of the running executable (tests
	// whose executable sits next to unrelated binaries). Default false.
	NoExecutableDir bool
	// NoPATH skips the PATH search. Default false.
	NoPATH bool
}

// Found is one store binary.
type Found struct {
	Name string // store name, e.g. "fake"
	Path string // absolute path of the binary
	// Shadows lists binaries of the same name later in the lookup order,
	// which Find does not use.
	Shadows []string
}

// ValidName reports whether name can be a store name: 1 to 64 of a-z, A-Z, 0-9,
// '-', '_' and '.', not starting with '.' or '-'.
func ValidName(name string) bool {
	if name == "" || len(name) > maxNameLen || name[0] == '.' || name[0] == '-' {
		return false
	}
	for _, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

// dirs returns the directories to search, in lookup order, without
// duplicates: plugin dir, executable's dir, PATH.
func (l Locator) dirs() []string {
	var out []string
	add := func(d string) {
		if d == "" {
			return
		}
		if abs, err := filepath.Abs(d); err == nil {
			d = abs
		}
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	pd := l.PluginDir
	if pd == "" {
		pd = os.Getenv(EnvPluginDir)
	}
	add(pd)
	if !l.NoExecutableDir {
		if exe, err := os.Executable(); err == nil {
			if real, err := filepath.EvalSymlinks(exe); err == nil {
				exe = real
			}
			add(filepath.Dir(exe))
		}
	}
	if !l.NoPATH {
		for _, d := range filepath.SplitList(os.Getenv("PATH")) {
			if d == "" {
				d = "." // POSIX: an empty PATH element is the current directory
			}
			add(d)
		}
	}
	return out
}

// isExecutable reports whether path is a regular file with an execute bit.
func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}

// Find returns the path of the binary of store name. explicit, if not
// empty, is used as is (the lookup is skipped); otherwise the plugin dir, the
// executable's directory and PATH are searched in that order.
func (l Locator) Find(name, explicit string) (string, error) {
	if explicit != "" {
		abs, err := filepath.Abs(explicit)
		if err != nil {
			return "", err
		}
		if !isExecutable(abs) {
			return "", fmt.Errorf("store %q: %s is not an executable file", name, abs)
		}
		return abs, nil
	}
	if !ValidName(name) {
		return "", fmt.Errorf("store name %q is invalid (want 1-%d of a-z A-Z 0-9 - _ .)", name, maxNameLen)
	}
	dirs := l.dirs()
	for _, d := range dirs {
		p := filepath.Join(d, BinaryPrefix+name)
		if isExecutable(p) {
			return p, nil
		}
	}
	return "", l.notFound(name)
}

// notFound says which store binary is missing, where it was looked for (the
// plugin and executable directories by name, PATH as a word: it can be
// long) and which stores there are.
func (l Locator) notFound(name string) error {
	where := l.dirs()
	if !l.NoPATH {
		where = slices.DeleteFunc(where, func(d string) bool {
			for _, p := range filepath.SplitList(os.Getenv("PATH")) {
				if p == "" {
					p = "."
				}
				if abs, err := filepath.Abs(p); err == nil && abs == d {
					return !l.isOwnDir(d)
				}
			}
			return false
		})
	}
	in := strings.Join(where, ", ")
	switch {
	case l.NoPATH:
	case in == "":
		in = "PATH"
	default:
		in += " or on PATH"
	}
	var names []string
	if found, err := l.Discover(); err == nil {
		for _, f := range found {
			names = append(names, f.Name)
		}
	}
	have := "no store binaries were found"
	if len(names) > 0 {
		have = "the stores found are " + strings.Join(names, ", ")
	}
	return fmt.Errorf("%w: no %s%s in %s; %s", ErrNoPlugin, BinaryPrefix, name, in, have)
}

// isOwnDir reports whether d is the plugin dir or the executable's.
func (l Locator) isOwnDir(d string) bool {
	own := l
	own.NoPATH = true
	return slices.Contains(own.dirs(), d)
}

// Discover lists every store binary found, sorted by name. The first binary
// of a name in lookup order is the one Find uses; the others are in Shadows.
func (l Locator) Discover() ([]Found, error) {
	byName := map[string]*Found{}
	for _, d := range l.dirs() {
		entries, err := os.ReadDir(d)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
				continue
			}
			return nil, err
		}
		for _, e := range entries {
			name, ok := strings.CutPrefix(e.Name(), BinaryPrefix)
			if !ok || !ValidName(name) {
				continue
			}
			p := filepath.Join(d, e.Name())
			if !isExecutable(p) {
				continue
			}
			if f, ok := byName[name]; ok {
				f.Shadows = append(f.Shadows, p)
				continue
			}
			byName[name] = &Found{Name: name, Path: p}
		}
	}
	out := make([]Found, 0, len(byName))
	for _, f := range byName {
		out = append(out, *f)
	}
	slices.SortFunc(out, func(a, b Found) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
