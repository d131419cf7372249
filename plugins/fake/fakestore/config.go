package fakestore

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/izyware/izypop3/sdk"
)

// Defaults of the configuration keys.
const (
	// DefaultCount is how many messages every mailbox starts with: the
	// seed's (izy-pop3) fake store has 99 items.
	DefaultCount = 99
	// DefaultMinSize and DefaultMaxSize bound the size of a generated
	// message, in octets.
	DefaultMinSize = 1 << 10
	DefaultMaxSize = 20 << 10
	// DefaultSeed is the seed used when none is configured.
	DefaultSeed = 1
)

// Limits of the configuration values.
const (
	// MaxCount bounds "count". On first use a mailbox renders the skeleton
	// of every message once to learn its size (30-40 µs each on the
	// project's machine) and keeps ~200 octets of metadata per message:
	// 100 000 messages take ~4 s and ~20 MB.
	MaxCount = 100_000
	// MaxGeneratedSize bounds "maxsize". Generated bodies are produced on
	// the fly, never held in memory, so this only keeps sizes sane.
	MaxGeneratedSize = 1 << 30
)

// params says what a mailbox is generated from.
type params struct {
	count            int
	minSize, maxSize int64
	seed             int64
}

var defaultParams = params{count: DefaultCount, minSize: DefaultMinSize, maxSize: DefaultMaxSize, seed: DefaultSeed}

// config is a decoded configuration block.
type config struct {
	base    params
	mailbox map[string]params // per-mailbox overrides, already merged with base
}

// Configuration keys. A per-mailbox key is "mailbox.NAME.KEY" with KEY one
// of the four below; NAME may itself contain dots.
const (
	keyCount   = "count"
	keyMinSize = "minsize"
	keyMaxSize = "maxsize"
	keySeed    = "seed"
	keyMailbox = "mailbox."
)

// ConfigKeys implements sdk.ConfigDescriber: izypop3 refuses other keys and
// `izypop3 plugins` lists these.
func (s *Store) ConfigKeys() []sdk.ConfigKey { return configKeys }

var configKeys = func() []sdk.ConfigKey {
	keys := []sdk.ConfigKey{
		{Name: keyCount, Help: fmt.Sprintf("messages every mailbox starts with (default %d, at most %d)", DefaultCount, MaxCount)},
		{Name: keyMinSize, Help: fmt.Sprintf("smallest generated message in octets (default %d)", DefaultMinSize)},
		{Name: keyMaxSize, Help: fmt.Sprintf("largest generated message in octets (default %d)", DefaultMaxSize)},
		{Name: keySeed, Help: fmt.Sprintf("seed of the generator: the same seed, the same mail (default %d)", DefaultSeed)},
	}
	for _, k := range keys[:4] {
		keys = append(keys, sdk.ConfigKey{Name: keyMailbox + "NAME." + k.Name, Help: "the same, for mailbox NAME only"})
	}
	return keys
}()

// decodeConfig decodes a configuration block strictly: an unknown key or a
// bad value is an error wrapping sdk.ErrInvalid that names the key.
func decodeConfig(m map[string]string) (config, error) {
	if err := sdk.CheckConfig(Name, configKeys, m); err != nil {
		return config{}, err
	}
	cfg := config{base: defaultParams, mailbox: map[string]params{}}
	type override struct {
		name, key, value, full string
	}
	var overrides []override
	// Sorted, so the error for a block with several bad keys is stable.
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := m[k]
		if rest, ok := strings.CutPrefix(k, keyMailbox); ok {
			i := strings.LastIndexByte(rest, '.')
			if i <= 0 {
				return config{}, fmt.Errorf("%w: config key %q: want mailbox.NAME.KEY", sdk.ErrInvalid, k)
			}
			name := rest[:i]
			if err := validMailbox(name); err != nil {
				return config{}, fmt.Errorf("%w: config key %q: bad mailbox name %q", sdk.ErrInvalid, k, name)
			}
			overrides = append(overrides, override{name: name, key: rest[i+1:], value: v, full: k})
			continue
		}
		if err := cfg.base.set(k, k, v); err != nil {
			return config{}, err
		}
	}
	for _, o := range overrides {
		p, ok := cfg.mailbox[o.name]
		if !ok {
			p = cfg.base
		}
		if err := p.set(o.key, o.full, o.value); err != nil {
			return config{}, err
		}
		cfg.mailbox[o.name] = p
	}
	if err := cfg.base.check(""); err != nil {
		return config{}, err
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.mailbox)) {
		if err := cfg.mailbox[name].check(keyMailbox + name + "."); err != nil {
			return config{}, err
		}
	}
	return cfg, nil
}

// set sets one key; full is the key as given, for errors.
func (p *params) set(key, full, value string) error {
	n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
	bad := func(why string) error {
		return fmt.Errorf("%w: config key %q: %q %s", sdk.ErrInvalid, full, value, why)
	}
	switch key {
	case keyCount, keyMinSize, keyMaxSize, keySeed:
		if err != nil {
			return bad("is not an integer")
		}
	default:
		return fmt.Errorf("%w: unknown config key %q (the fake store knows %s, %s, %s, %s and mailbox.NAME.KEY)",
			sdk.ErrInvalid, full, keyCount, keyMinSize, keyMaxSize, keySeed)
	}
	switch key {
	case keyCount:
		if n < 0 || n > MaxCount {
			return bad(fmt.Sprintf("is out of range 0..%d", MaxCount))
		}
		p.count = int(n)
	case keyMinSize:
		if n < 0 || n > MaxGeneratedSize {
			return bad(fmt.Sprintf("is out of range 0..%d", MaxGeneratedSize))
		}
		p.minSize = n
	case keyMaxSize:
		if n < 0 || n > MaxGeneratedSize {
			return bad(fmt.Sprintf("is out of range 0..%d", MaxGeneratedSize))
		}
		p.maxSize = n
	case keySeed:
		p.seed = n
	}
	return nil
}

func (p params) check(prefix string) error {
	if p.minSize > p.maxSize {
		return fmt.Errorf("%w: config keys %q and %q: minsize %d is above maxsize %d",
			sdk.ErrInvalid, prefix+keyMinSize, prefix+keyMaxSize, p.minSize, p.maxSize)
	}
	return nil
}

// maxMailboxLen is the longest mailbox name (sdk.Store: 1..255 octets).
const maxMailboxLen = 255

// validMailbox checks a mailbox name against the sdk.Store rule: 1..255
// octets, printable, no '/', '\\' or NUL, not "." or "..".
func validMailbox(m string) error {
	if len(m) < 1 || len(m) > maxMailboxLen || m == "." || m == ".." {
		return fmt.Errorf("%w: mailbox name %q", sdk.ErrInvalid, m)
	}
	for i := 0; i < len(m); i++ {
		if c := m[i]; c < 0x20 || c == 0x7f || c == '/' || c == '\\' {
			return fmt.Errorf("%w: mailbox name %q", sdk.ErrInvalid, m)
		}
	}
	return nil
}
