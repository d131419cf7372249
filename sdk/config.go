package sdk

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// CheckConfig refuses the keys of config that match none of keys (see
// [ConfigKey.Name]) with an [*UnknownKeysError]. izypop3 calls it for every
// store that describes its keys (a [ConfigDescriber]); a store may call it
// at the top of Configure too.
func CheckConfig(store string, keys []ConfigKey, config map[string]string) error {
	var unknown []string
	for _, k := range slices.Sorted(maps.Keys(config)) {
		if !slices.ContainsFunc(keys, func(c ConfigKey) bool { return MatchConfigKey(c.Name, k) }) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	known := make([]string, len(keys))
	for i, c := range keys {
		known[i] = c.Name
	}
	return &UnknownKeysError{Store: store, Keys: unknown, Known: known}
}

// MatchConfigKey reports whether key matches the ConfigKey name pattern:
// equal dotted parts, where an upper-case part of pattern matches one or more
// parts of key.
func MatchConfigKey(pattern, key string) bool {
	return matchParts(strings.Split(pattern, "."), strings.Split(key, "."))
}

func matchParts(pat, key []string) bool {
	if len(pat) == 0 {
		return len(key) == 0
	}
	if !isPlaceholder(pat[0]) {
		return len(key) > 0 && key[0] == pat[0] && matchParts(pat[1:], key[1:])
	}
	for n := 1; n <= len(key); n++ {
		if key[n-1] == "" {
			return false
		}
		if matchParts(pat[1:], key[n:]) {
			return true
		}
	}
	return false
}

func isPlaceholder(part string) bool {
	return part != "" && strings.ToUpper(part) == part && strings.ToLower(part) != part
}

// UnknownKeysError names the keys of a configuration block a store does not
// take. It wraps ErrInvalid.
type UnknownKeysError struct {
	Store string   // the store's name
	Keys  []string // the unknown keys, sorted, without "mimestore."
	Known []string // the ConfigKey names the store takes
}

func (e *UnknownKeysError) Error() string {
	quoted := make([]string, len(e.Keys))
	for i, k := range e.Keys {
		quoted[i] = fmt.Sprintf("%q", "mimestore."+k)
	}
	word := "key"
	if len(e.Keys) > 1 {
		word = "keys"
	}
	known := "none"
	if len(e.Known) > 0 {
		known = "mimestore." + strings.Join(e.Known, ", mimestore.")
	}
	return fmt.Sprintf("unknown %s %s for store %s (it takes %s)", word, strings.Join(quoted, ", "), e.Store, known)
}

func (e *UnknownKeysError) Unwrap() error { return ErrInvalid }
