// Package config reads izypop3's configuration file and applies it, together
// with IZYPOP3_* environment variables, to a command's flags.
//
// The file is TOML. Its keys are the command's flag names, so a key means in
// the file what the flag means on the command line:
//
//	listen = "0.0.0.0"
//	port = 110
//	users = "/etc/izypop3/users"
//	maildrop-tags = ["unread"]
//
//	[mimestore]           # the store's own keys (--mimestore.KEY)
//	modhandler = "localfs"
//	path = "/srv/mail"
//
// A table is a dotted prefix: [mimestore] path = "x" is the key
// mimestore.path, as is the dotted key mimestore.path = "x". A command that
// takes several named blocks (clientpop3's [account.NAME]) reads each block
// with [File.Sub] and applies it to a flag set of its own.
//
// Precedence, highest first: a flag on the command line, the environment
// variable IZYPOP3_<FLAG> (upper case, "-" and "." written "_"), the file,
// the flag's default. The file is strict: a key that names no flag is an
// error that gives the file and line.
//
// Values are decoded by go-toml (github.com/pelletier/go-toml/v2); the line
// of each key comes from its parser's AST (package unstable, pinned in
// go.mod with the rest of the module).
package config

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// MaxFileSize bounds a configuration file (1 MiB); a larger one is refused.
const MaxFileSize = 1 << 20

// A Value is one key of a file or the environment, ready for a flag.
type Value struct {
	Key  string   // the full dotted key: "port", "mimestore.path", "account.work.user"
	Text string   // the value as a flag takes it ("110", "true", "10m", "a,b")
	List []string // the elements when the value is an array, else nil
	Kind string   // the TOML type: "string", "integer", "float", "boolean", "array"; "" from the environment
	Src  string   // where it was set: "FILE:LINE" or "$IZYPOP3_NAME"
}

// A File is a parsed configuration file: its keys flattened to dotted names.
type File struct {
	Path   string
	values map[string]Value
	keys   []string // in file order
}

// Load reads and parses the configuration file at path.
func Load(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("config file %s: larger than %d bytes", path, MaxFileSize)
	}
	return Parse(path, data)
}

// Parse parses data, the contents of the file named path (used in messages).
func Parse(path string, data []byte) (*File, error) {
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			line, _ := de.Position()
			return nil, fmt.Errorf("%s:%d: %s", path, line, de.Error())
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	lines, err := keyLines(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f := &File{Path: path, values: map[string]Value{}}
	if err := f.flatten("", doc, lines); err != nil {
		return nil, err
	}
	slices.SortFunc(f.keys, func(a, b string) int { return lines[a] - lines[b] })
	return f, nil
}

// flatten adds every leaf of m under prefix.
func (f *File) flatten(prefix string, m map[string]any, lines map[string]int) error {
	for k, v := range m {
		key := prefix + k
		src := fmt.Sprintf("%s:%d", f.Path, lineOf(lines, key))
		if strings.Contains(k, ".") {
			return fmt.Errorf("%s: key %q: a quoted key may not contain \".\"", src, k)
		}
		switch v := v.(type) {
		case map[string]any:
			if err := f.flatten(key+".", v, lines); err != nil {
				return err
			}
			continue
		case []any:
			list := make([]string, 0, len(v))
			for _, e := range v {
				s, err := scalar(e)
				if err != nil {
					return fmt.Errorf("%s: %s: array element: %w", src, key, err)
				}
				list = append(list, s)
			}
			f.add(Value{Key: key, Text: strings.Join(list, ","), List: list, Kind: "array", Src: src})
		default:
			s, err := scalar(v)
			if err != nil {
				return fmt.Errorf("%s: %s: %w", src, key, err)
			}
			f.add(Value{Key: key, Text: s, Kind: kind(v), Src: src})
		}
	}
	return nil
}

func (f *File) add(v Value) {
	f.values[v.Key] = v
	f.keys = append(f.keys, v.Key)
}

// lineOf is the line of key, or of its closest enclosing table.
func lineOf(lines map[string]int, key string) int {
	for {
		if l, ok := lines[key]; ok {
			return l
		}
		i := strings.LastIndexByte(key, '.')
		if i < 0 {
			return 0
		}
		key = key[:i]
	}
}

// scalar renders a decoded TOML value as flag text.
func scalar(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case bool:
		return strconv.FormatBool(v), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case float64:
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return "", fmt.Errorf("%v is not a usable number", v)
		}
		return strconv.FormatFloat(v, 'g', -1, 64), nil
	case map[string]any:
		return "", errors.New("want a value, not a table")
	case []any:
		return "", errors.New("want a value, not an array")
	case time.Time, toml.LocalDate, toml.LocalTime, toml.LocalDateTime:
		return "", errors.New("dates are not used by izypop3: quote the value")
	default:
		return "", fmt.Errorf("unsupported value %T", v)
	}
}

func kind(v any) string {
	switch v.(type) {
	case bool:
		return "boolean"
	case int64:
		return "integer"
	case float64:
		return "float"
	default:
		return "string"
	}
}

// keyLines maps every dotted key and table name of a valid document to the
// line it is written on.
func keyLines(data []byte) (map[string]int, error) {
	lines := map[string]int{}
	var p unstable.Parser
	p.Reset(data)
	table := ""
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table:
			table = joinKey(e.Key())
			lines[table] = line(&p, e)
			table += "."
		case unstable.ArrayTable:
			return nil, fmt.Errorf("line %d: [[%s]]: arrays of tables are not used by izypop3", line(&p, e), joinKey(e.Key()))
		case unstable.KeyValue:
			kvLines(&p, e, table, lines)
		}
	}
	if err := p.Error(); err != nil {
		return nil, err
	}
	return lines, nil
}

// kvLines records the line of the key-value e under prefix, and of the keys
// of an inline table it holds.
func kvLines(p *unstable.Parser, e *unstable.Node, prefix string, lines map[string]int) {
	key := prefix + joinKey(e.Key())
	if _, ok := lines[key]; !ok {
		lines[key] = line(p, e)
	}
	if v := e.Value(); v.Kind == unstable.InlineTable {
		it := v.Children()
		for it.Next() {
			if n := it.Node(); n.Kind == unstable.KeyValue {
				kvLines(p, n, key+".", lines)
			}
		}
	}
}

// line is the line of the first key node of e.
func line(p *unstable.Parser, e *unstable.Node) int {
	it := e.Key()
	if it.Next() {
		if n := it.Node(); n.Raw.Length > 0 {
			return p.Shape(n.Raw).Start.Line
		}
	}
	return 0
}

func joinKey(it unstable.Iterator) string {
	var parts []string
	for it.Next() {
		parts = append(parts, string(it.Node().Data))
	}
	return strings.Join(parts, ".")
}

// Keys returns the file's dotted keys in file order.
func (f *File) Keys() []string {
	if f == nil {
		return nil
	}
	return slices.Clone(f.keys)
}

// Lookup returns the value of key.
func (f *File) Lookup(key string) (Value, bool) {
	if f == nil {
		return Value{}, false
	}
	v, ok := f.values[key]
	return v, ok
}

// Names returns the NAMEs of the [prefix.NAME] tables, in file order.
func (f *File) Names(prefix string) []string {
	var names []string
	for _, k := range f.Keys() {
		rest, ok := strings.CutPrefix(k, prefix+".")
		if !ok {
			continue
		}
		name, _, ok := strings.Cut(rest, ".")
		if ok && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return names
}

// Sub returns the keys under prefix (prefix and its dot stripped), as a File
// of its own with the same path: the block of one [account.NAME] table, say.
func (f *File) Sub(prefix string) *File {
	s := &File{values: map[string]Value{}}
	if f == nil {
		return s
	}
	s.Path = f.Path
	for _, k := range f.keys {
		if rest, ok := strings.CutPrefix(k, prefix+"."); ok {
			v := f.values[k]
			v.Key = rest
			s.add(v)
		}
	}
	return s
}
