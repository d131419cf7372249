// Command izypop3 is a POP3 server and fetcher whose mail stores are
// separate plugin processes.
//
//	izypop3 serverpop3 --port 1110 --password 12345 --modhandler fake
//	izypop3 serverpop3 port 1110 password 12345 mimestore.modhandler fake   (the seed's form)
//	izypop3 clientpop3 --ip pop.example.com --tls --user U --pass-env P --modhandler localfs --mimestore.path DIR --cmd sync
//	izypop3 clientpop3 ip pop.example.com port 995 user U pass P tls true cmd list   (the seed's form)
//	izypop3 test --testtype fullclientserver
//	izypop3 test --testtype mimestore --modhandler fake --query.limit 2 --query.tags unread
//	izypop3 plugins
//	izypop3 passwd NAME
//	izypop3 version
//
// This package only wires: flags, the seed's key-value form, signals and exit
// codes. The work is done in core/... and the store plugins.
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/izyware/izypop3/core/storehost"
	"github.com/izyware/izypop3/internal/config"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command failed
	exitUsage = 2 // bad command line
)

// usageError marks an error in the command line (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func main() {
	if len(os.Args) == 3 && os.Args[1] == storehost.BundledArg {
		os.Exit(serveBundled(os.Args[2])) // a bundled store's plugin process
	}
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	root := newRootCmd()
	args, err := normalizeArgs(args, func(sub, key string) flagKind {
		cmd, _, err := root.Find([]string{sub})
		if err != nil || cmd == root {
			return notFlag
		}
		f := cmd.Flags().Lookup(key)
		switch {
		case f == nil:
			return notFlag
		case f.NoOptDefVal != "":
			return boolFlag
		}
		return valueFlag
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "izypop3:", err)
		return exitUsage
	}
	args, storeCfg, err := splitStoreConfig(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "izypop3:", err)
		return exitUsage
	}
	globalStoreConfig = storeCfg
	if _, _, err := root.Find(args); err != nil {
		// An unknown command ("izypop3 serve").
		msg := fmt.Sprintf("unknown command %q", args[0])
		if s := root.SuggestionsFor(args[0]); len(s) > 0 {
			msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(s, " or "))
		} else {
			msg += " (see izypop3 --help)"
		}
		fmt.Fprintln(os.Stderr, "izypop3:", msg)
		return exitUsage
	}
	if _, rest, err := root.Find(args); err == nil {
		cmdLine = commandLine{args: rest, store: storeCfg}
	}
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "izypop3:", err)
		var ue usageError
		if errors.As(err, &ue) {
			return exitUsage
		}
		var ec exitCodeError
		if errors.As(err, &ec) {
			return ec.code
		}
		return exitError
	}
	return exitOK
}

// commandLine is the running command's own arguments after the seed form
// was rewritten (flags, no command name) and its --mimestore.* options:
// what serverpop3 parses again when SIGHUP asks it to reload.
type commandLine struct {
	args  []string
	store map[string]string
}

var cmdLine commandLine

// globalStoreConfig holds the --mimestore.KEY=VALUE options (prefix
// stripped), taken out of the command line before cobra parses it.
var globalStoreConfig map[string]string

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "izypop3",
		Short: "POP3 server and fetcher over pluggable mail stores",
		Long: `izypop3 serves mail out of a mimestore over POP3 and downloads mail from POP3
servers into a mimestore. Stores are plugin processes named izypop3-store-NAME,
chosen with --modhandler NAME (the seed's mimestore.modhandler); their own
options are given as --mimestore.KEY=VALUE.

Every flag can also be set by the environment variable IZYPOP3_<FLAG> (upper
case, "-" and "." as "_": IZYPOP3_PLUGIN_DIR, IZYPOP3_MIMESTORE_PATH) and, for
serverpop3 and clientpop3, by a TOML file given with --config; a flag on the
command line wins over the environment, which wins over the file.

Options may also be given in the seed's key-value form:
  izypop3 serverpop3 port 1110 password 12345 mimestore.modhandler fake`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// The environment and the --config file fill the flags not given
		// on the command line, before any command runs.
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			store, src, file, err := resolveConfigSrc(cmd, globalStoreConfig, os.Environ())
			if err != nil {
				return err
			}
			globalStoreConfig, storeConfigSrc, loadedConfig = store, src, file
			return nil
		},
	}
	root.Version = readBuildInfo().Version // enables --version
	root.SetVersionTemplate(readBuildInfo().String())
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		var ive *pflag.InvalidValueError
		if errors.As(err, &ive) {
			fl := ive.GetFlag()
			return usageError{fmt.Errorf("--%s: %q is not a valid %s", fl.Name, ive.GetValue(), config.TypeName(fl))}
		}
		return usageError{err}
	})
	root.AddCommand(
		newServerCmd(),
		newClientCmd(),
		newTestCmd(),
		newPluginsCmd(),
		newPasswdCmd(),
		newVersionCmd(),
	)
	return root
}
