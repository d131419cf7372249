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

// BundledArg is the first argument of a bundled store's process: a program
// that bundles stores (izypop3 bundles its first-party ones) is started as
// `PROGRAM BundledArg NAME` and must then serve the store NAME with
// sdk.Serve and exit. Third-party stores are binaries of their own.
const BundledArg = "__izypop3-store"

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
	// Bundled names the stores that Self serves itself when started with
	// BundledArg. They are looked up after PluginDir and before the
	// executable's directory and PATH: a binary in the plugin dir replaces a
	// bundled store, and a stale copy elsewhere does not. Default none.
	Bundled []string
	// Self is the program that serves the Bundled stores. Default: the
	// running executable.
	Self string
}

// Found is one store binary.
type Found struct {
	Name string // store name, e.g. "fake"
	Path string // absolute path of the binary (for a bundled store: Self)
	// Bundled reports a store served by Path itself, started as
	// `Path BundledArg Name`.
	Bundled bool
	// Shadows lists binaries of the same name later in the lookup order,
	// which Find does not use.
	Shadows []string
}

// Args are the arguments the plugin process is started with.
func (f Found) Args() []string {
	if f.Bundled {
		return []string{BundledArg, f.Name}
	}
	return nil
}

// self is the absolute path of the program serving the bundled stores, ""
// when there are none or it cannot be found.
func (l Locator) self() string {
	if len(l.Bundled) == 0 {
		return ""
	}
	p := l.Self
	if p == "" {
		exe, err := os.Executable()
		if err != nil {
			return ""
		}
		p = exe
	}
	if real, err := filepath.EvalSymlinks(p); err == nil {
		p = real
	}
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	return p
}

// source is one place of the lookup order: a directory, or the bundled
// stores (dir == "").
type source struct{ dir string }

// sources lists the lookup order: plugin dir, bundled stores, the
// executable's directory, PATH.
func (l Locator) sources() []source {
	dirs := l.dirs()
	var out []source
	pd := l.PluginDir
	if pd == "" {
		pd = os.Getenv(EnvPluginDir)
	}
	if pd != "" && len(dirs) > 0 {
		out, dirs = append(out, source{dirs[0]}), dirs[1:]
	}
	if l.self() != "" {
		out = append(out, source{})
	}
	for _, d := range dirs {
		out = append(out, source{d})
	}
	return out
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

// Find returns the binary of store name. explicit, if not empty, is used as
// is (the lookup is skipped); otherwise the plugin dir, the bundled stores,
// the executable's directory and PATH are searched in that order.
func (l Locator) Find(name, explicit string) (Found, error) {
	if explicit != "" {
		abs, err := filepath.Abs(explicit)
		if err != nil {
			return Found{}, err
		}
		if !isExecutable(abs) {
			return Found{}, fmt.Errorf("store %q: %s is not an executable file", name, abs)
		}
		return Found{Name: name, Path: abs}, nil
	}
	if !ValidName(name) {
		return Found{}, fmt.Errorf("store name %q is invalid (want 1-%d of a-z A-Z 0-9 - _ .)", name, maxNameLen)
	}
	for _, src := range l.sources() {
		if src.dir == "" {
			if slices.Contains(l.Bundled, name) {
				return Found{Name: name, Path: l.self(), Bundled: true}, nil
			}
			continue
		}
		p := filepath.Join(src.dir, BinaryPrefix+name)
		if isExecutable(p) {
			return Found{Name: name, Path: p}, nil
		}
	}
	return Found{}, l.notFound(name)
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
	add := func(f Found) {
		if prev, ok := byName[f.Name]; ok {
			prev.Shadows = append(prev.Shadows, f.Path)
			return
		}
		byName[f.Name] = &f
	}
	for _, src := range l.sources() {
		if src.dir == "" {
			for _, name := range l.Bundled {
				add(Found{Name: name, Path: l.self(), Bundled: true})
			}
			continue
		}
		entries, err := os.ReadDir(src.dir)
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
			p := filepath.Join(src.dir, e.Name())
			if !isExecutable(p) {
				continue
			}
			add(Found{Name: name, Path: p})
		}
	}
	out := make([]Found, 0, len(byName))
	for _, f := range byName {
		out = append(out, *f)
	}
	slices.SortFunc(out, func(a, b Found) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
