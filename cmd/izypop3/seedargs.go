package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/izyware/izypop3/internal/config"
)

// The seed (izy-pop3) takes its options as bare key-value pairs:
//
//	node cli.js method serverpop3 port 1110 password 12345 mimestore.modhandler fake
//
// izypop3 accepts that form with the same meaning as the flag form
// (izypop3 serverpop3 --port 1110 ...). normalizeArgs rewrites the seed form
// into flags before the command line is parsed:
//
//   - a leading "method NAME" pair becomes the subcommand NAME;
//   - after the subcommand, a bare word KEY followed by VALUE becomes
//     --KEY=VALUE (KEY must be a known flag of that subcommand or a
//     mimestore.* / query.* key);
//   - "mimestore.modhandler" is the --modhandler flag.
//
// Arguments that already start with "-" are left alone, so both forms mix.

// storeConfigPrefix is the prefix of the keys handed to the store's own
// config block (the seed's mimestore.* keys).
const storeConfigPrefix = "mimestore."

// flagKind says whether a word names a flag of a subcommand, and whether
// that flag takes a value.
type flagKind int

const (
	notFlag   flagKind = iota
	boolFlag           // --name or --name=true|false
	valueFlag          // --name VALUE or --name=VALUE
)

// normalizeArgs rewrites seed-style key-value arguments into flags. known
// says whether a bare word is a flag name of the given subcommand. The
// value after a flag written as "--name VALUE" is left alone, even when it
// is a word that names a flag ("--auth user").
func normalizeArgs(args []string, known func(sub, key string) flagKind) ([]string, error) {
	out := make([]string, 0, len(args))
	i := 0
	if len(args) >= 2 && args[0] == "method" {
		out = append(out, args[1])
		i = 2
	} else if len(args) >= 1 {
		out = append(out, args[0])
		i = 1
	}
	if len(out) == 0 {
		return out, nil
	}
	sub := out[0]
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			out = append(out, args[i:]...)
			break
		}
		if strings.HasPrefix(a, "-") {
			out = append(out, a)
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") && i+1 < len(args) &&
				(known(sub, name) == valueFlag || strings.HasPrefix(name, storeConfigPrefix) || strings.HasPrefix(name, "query.")) {
				out = append(out, args[i+1]) // the flag's value, whatever it looks like
				i++
			}
			continue
		}
		key := a
		if known(sub, key) == notFlag && !strings.HasPrefix(key, storeConfigPrefix) && !strings.HasPrefix(key, "query.") {
			// Not a key: a positional argument (for example "passwd NAME").
			out = append(out, a)
			continue
		}
		if i+1 >= len(args) {
			return nil, fmt.Errorf("seed-style option %q has no value", key)
		}
		out = append(out, "--"+key+"="+args[i+1])
		i++
	}
	return out, nil
}

// splitStoreConfig removes every --mimestore.KEY=VALUE (or --mimestore.KEY
// VALUE) from args and returns them as a map with the prefix stripped.
// --mimestore.modhandler is rewritten to --modhandler and stays in args.
func splitStoreConfig(args []string) (rest []string, cfg map[string]string, err error) {
	cfg = map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		name := strings.TrimLeft(a, "-")
		if !strings.HasPrefix(a, "-") || !strings.HasPrefix(name, storeConfigPrefix) {
			rest = append(rest, a)
			continue
		}
		key, val, hasVal := strings.Cut(strings.TrimPrefix(name, storeConfigPrefix), "=")
		if !hasVal {
			if i+1 >= len(args) {
				return nil, nil, fmt.Errorf("option --%s%s needs a value", storeConfigPrefix, key)
			}
			val = args[i+1]
			i++
		}
		if key == "" {
			return nil, nil, fmt.Errorf("option %q has an empty key", a)
		}
		if key == "modhandler" {
			rest = append(rest, "--modhandler="+val)
			continue
		}
		if _, dup := cfg[key]; dup {
			return nil, nil, fmt.Errorf("option --%s%s given twice", storeConfigPrefix, key)
		}
		cfg[key] = val
	}
	return rest, cfg, nil
}

// noArgs refuses positional arguments, as a bad command line: a bare word
// left after normalizeArgs is a seed-form key that names no option.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	var names []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
	msg := fmt.Sprintf("unknown option %q for %s", args[0], cmd.Name())
	if s := config.Suggest(args[0], names); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	} else {
		msg += fmt.Sprintf(" (see izypop3 %s --help)", cmd.Name())
	}
	return usageError{errors.New(msg)}
}

// usageArgs makes an argument check's error a bad command line (exit 2).
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}
