package config

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/pflag"
)

// EnvPrefix starts the name of every environment variable izypop3 reads.
const EnvPrefix = "IZYPOP3_"

// EnvName is the environment variable for the flag or key name:
// "plugin-dir" → IZYPOP3_PLUGIN_DIR, "mimestore.path" → IZYPOP3_MIMESTORE_PATH.
func EnvName(name string) string {
	return EnvPrefix + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(name))
}

// Options say what Apply reads besides the flag set.
type Options struct {
	// File is the configuration file; nil for none.
	File *File
	// Environ is the environment as os.Environ returns it; nil reads none.
	Environ []string
	// Skip names flags never read from the file or the environment.
	Skip []string
	// Pass lists key prefixes (without the dot) whose keys Apply returns
	// instead of matching them to flags: "mimestore" for the store's block.
	// Environment variables for them are read too: IZYPOP3_MIMESTORE_PATH
	// gives mimestore.path (the rest of the name lower-cased).
	Pass []string
	// Sections lists prefixes of named tables ([account.NAME]) the caller
	// reads itself with File.Sub; Apply only checks they are tables.
	Sections []string
	// Aliases maps other names of a flag to the flag, in the file and the
	// environment: "mimestore.modhandler" → "modhandler".
	Aliases map[string]string
	// Command names the command in messages ("serverpop3").
	Command string
}

// Apply sets every flag of fs that was not given on the command line
// (pflag's Changed) from its environment variable, else from the file. It
// returns the values of the Pass keys, the environment's over the file's.
// An unknown file key, or a value a flag refuses, is an error that names
// where it was set.
func Apply(fs *pflag.FlagSet, o Options) (map[string]Value, error) {
	env := map[string]string{}
	for _, kv := range o.Environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, EnvPrefix) {
			env[k] = v
		}
	}
	pass := map[string]Value{}
	fileVal := map[string]Value{} // flag name → its value in the file
	var err error
	// The file first: every key must be known.
	for _, k := range o.File.Keys() {
		v, _ := o.File.Lookup(k)
		if target, ok := o.Aliases[k]; ok {
			if prev, dup := fileVal[target]; dup {
				return nil, fmt.Errorf("%s: %s: already set as %s at %s", v.Src, k, prev.Key, prev.Src)
			}
			fileVal[target] = v
			continue
		}
		if p := prefixOf(k, o.Pass); p != "" {
			pass[k] = v
			continue
		}
		if p := prefixOf(k, o.Sections); p != "" {
			if strings.Count(k, ".") < 2 {
				return nil, fmt.Errorf("%s: %s: want [%s.NAME] tables", v.Src, k, p)
			}
			continue
		}
		fl := fs.Lookup(k)
		if fl == nil || slices.Contains(o.Skip, k) {
			return nil, unknownKey(fs, o, v)
		}
		if prev, dup := fileVal[k]; dup {
			return nil, fmt.Errorf("%s: %s: already set as %s at %s", v.Src, k, prev.Key, prev.Src)
		}
		fileVal[k] = v
	}
	fs.VisitAll(func(fl *pflag.Flag) {
		if err != nil || fl.Changed || slices.Contains(o.Skip, fl.Name) {
			return
		}
		names := []string{fl.Name}
		for alias, target := range o.Aliases {
			if target == fl.Name {
				names = append(names, alias)
			}
		}
		for _, n := range names {
			if name := EnvName(n); env[name] != "" {
				err = set(fl, Value{Key: fl.Name, Text: env[name], Src: "$" + name})
				return
			}
		}
		if v, ok := fileVal[fl.Name]; ok {
			err = set(fl, v)
		}
	})
	if err != nil {
		return nil, err
	}
	for _, p := range o.Pass {
		envp := EnvName(p) + "_"
		for name, val := range env {
			if rest, ok := strings.CutPrefix(name, envp); ok && rest != "" && val != "" {
				k := p + "." + strings.ToLower(rest)
				if _, alias := o.Aliases[k]; alias {
					continue
				}
				pass[k] = Value{Key: k, Text: val, Src: "$" + name}
			}
		}
	}
	return pass, nil
}

func prefixOf(key string, prefixes []string) string {
	for _, p := range prefixes {
		if strings.HasPrefix(key, p+".") {
			return p
		}
	}
	return ""
}

// set gives fl the value v, replacing its default.
func set(fl *pflag.Flag, v Value) error {
	var err error
	if want := wantKind(fl); v.Kind != "" && want != "" && v.Kind != want {
		return fmt.Errorf("%s: %s: want %s %s, not %s %s", v.Src, v.Key, article(want), want, article(v.Kind), v.Kind)
	}
	if sv, ok := fl.Value.(pflag.SliceValue); ok && v.List != nil {
		err = sv.Replace(v.List)
		fl.Changed = true
	} else {
		if v.List != nil && !strings.HasSuffix(fl.Value.Type(), "Slice") && !strings.HasSuffix(fl.Value.Type(), "Array") {
			return fmt.Errorf("%s: %s: want one value, not an array", v.Src, v.Key)
		}
		err = fl.Value.Set(v.Text)
		fl.Changed = true
	}
	if err != nil {
		return fmt.Errorf("%s: %s: %q is not a valid %s", v.Src, v.Key, v.Text, TypeName(fl))
	}
	return nil
}

// wantKind is the TOML type a flag needs, "" when any scalar will do.
func wantKind(fl *pflag.Flag) string {
	switch fl.Value.Type() {
	case "bool":
		return "boolean"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "integer"
	}
	return ""
}

func article(kind string) string {
	if strings.ContainsRune("aeiou", rune(kind[0])) {
		return "an"
	}
	return "a"
}

// TypeName says in words what a flag takes: "integer", "duration (like 30s or 10m)".
func TypeName(fl *pflag.Flag) string {
	switch t := fl.Value.Type(); t {
	case "int", "int64", "uint", "uint16", "uint32", "uint64":
		return "integer"
	case "bool":
		return "boolean (true or false)"
	case "duration":
		return "duration (like 30s or 10m)"
	case "stringSlice":
		return "list"
	default:
		return t
	}
}

func unknownKey(fs *pflag.FlagSet, o Options, v Value) error {
	var known []string
	fs.VisitAll(func(fl *pflag.Flag) {
		if !slices.Contains(o.Skip, fl.Name) {
			known = append(known, fl.Name)
		}
	})
	for _, p := range o.Pass {
		known = append(known, p+".")
	}
	msg := fmt.Sprintf("%s: unknown key %q", v.Src, v.Key)
	if o.Command != "" {
		msg += " for " + o.Command
	}
	if s := Suggest(v.Key, known); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return fmt.Errorf("%s", msg)
}

// Suggest returns the candidate closest to word when it is a likely typo of
// it (at most two edits, and fewer than half of word's letters), else "".
func Suggest(word string, candidates []string) string {
	best, bestD := "", 3
	sort.Strings(candidates)
	for _, c := range candidates {
		if d := distance(word, c); d < bestD && d*2 < len(word) {
			best, bestD = c, d
		}
	}
	return best
}

// distance is the edit distance of a and b counting a swap of two
// neighbouring letters as one edit ("prot" → "port").
func distance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
