package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/izyware/izypop3/core/auth"
	"github.com/izyware/izypop3/core/storehost"
	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/pluginhost"
)

// Set by release builds and make build with -ldflags "-X main.NAME=...";
// when empty they come from the Go build info (module version, VCS stamp).
var (
	version   = "" // the izypop3 version (default: the module's, else 0.1.0-dev)
	commit    = "" // the VCS revision
	buildDate = "" // when the binary was built (RFC 3339)
)

// buildInfo describes this binary.
type buildInfo struct {
	Version  string
	Commit   string
	Modified bool   // built from a work tree with uncommitted changes
	Date     string // the build date, else the commit date
	DateKind string // "built" or "commit date"
	Go       string
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, Commit: commit, Date: buildDate, DateKind: "built",
		Go: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.Version = strings.TrimPrefix(bi.Main.Version, "v")
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if b.Commit == "" {
					b.Commit = s.Value
				}
			case "vcs.modified":
				b.Modified = s.Value == "true"
			case "vcs.time":
				if b.Date == "" {
					b.Date, b.DateKind = s.Value, "commit date"
				}
			}
		}
	}
	if b.Version == "" {
		b.Version = "0.1.0-dev"
	}
	return b
}

// String is what izypop3 version and izypop3 --version print.
func (b buildInfo) String() string {
	var w strings.Builder
	fmt.Fprintf(&w, "izypop3 %s\n", b.Version)
	c := b.Commit
	if c == "" {
		c = "unknown"
	}
	if b.Modified {
		c += " (modified)"
	}
	fmt.Fprintf(&w, "commit: %s\n", c)
	if b.Date != "" {
		fmt.Fprintf(&w, "%s: %s\n", b.DateKind, b.Date)
	}
	fmt.Fprintf(&w, "go: %s\n", b.Go)
	fmt.Fprintf(&w, "sdk %s, store protocol %d\n", sdk.Version, pluginhost.ProtocolVersion)
	return w.String()
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and build date of izypop3, its SDK and store protocol",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := noStoreConfig(cmd); err != nil {
				return err
			}
			fmt.Print(readBuildInfo())
			return nil
		},
	}
}

func newPluginsCmd() *cobra.Command {
	var pluginDir string
	cmd := &cobra.Command{
		Use:   "plugins",
		Short: "List the store plugins found, with their versions and capabilities",
		Long: `List every store found, in lookup order: izypop3-store-NAME binaries in
--plugin-dir / $IZYPOP3_PLUGIN_DIR, the stores bundled in izypop3 (cloud, fake, localfs),
then izypop3-store-NAME binaries in the directory of the izypop3 executable and on
PATH. Each is started once to ask its version, capabilities and configuration keys
(--mimestore.KEY).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := noStoreConfig(cmd); err != nil {
				return err
			}
			loc := locator(pluginDir)
			found, err := loc.Discover()
			if err != nil {
				return err
			}
			if len(found) == 0 {
				fmt.Println("no store plugins found")
				return nil
			}
			defer storehost.Cleanup()
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tVERSION\tSDK\tCAPABILITIES\tPATH")
			var keys strings.Builder // the keys of each store, after the table
			for _, f := range found {
				ver, sdkv, caps := "?", "?", ""
				ctx, cancel := context.WithTimeout(cmd.Context(), 15*time.Second)
				h, err := storehost.Open(ctx, storehost.Options{Name: f.Name, Locator: loc, InfoOnly: true})
				if err != nil {
					caps = "error: " + err.Error()
				} else {
					info := h.Info()
					ver, sdkv = info.Version, info.SDKVersion
					caps = strings.Join(info.Capabilities, ",")
					if caps == "" {
						caps = "-"
					}
					writeConfigKeys(&keys, f.Name, info.ConfigKeys)
					h.Close()
				}
				cancel()
				where := f.Path
				if f.Bundled {
					where = "bundled in " + f.Path
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Name, ver, sdkv, caps, where)
				for _, s := range f.Shadows {
					fmt.Fprintf(tw, "\t\t\t(shadowed)\t%s\n", s)
				}
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			_, err = fmt.Print(keys.String())
			return err
		},
	}
	cmd.Flags().StringVar(&pluginDir, "plugin-dir", "", "directory searched first for store plugins (default $"+storehost.EnvPluginDir+")")
	return cmd
}

// writeConfigKeys lists a store's configuration keys with their help.
func writeConfigKeys(w io.Writer, store string, keys []sdk.ConfigKey) {
	if len(keys) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s keys (--mimestore.KEY=VALUE; also mimestore.verbose, for every store):\n", store)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, k := range keys {
		fmt.Fprintf(tw, "  %s%s\t%s\n", storeConfigPrefix, k.Name, k.Help)
	}
	tw.Flush()
}

func newPasswdCmd() *cobra.Command {
	var scheme string
	cmd := &cobra.Command{
		Use:   "passwd NAME",
		Short: "Print a users-file line (NAME:verifier) for --users",
		Long: `Read a password (twice at a terminal, once from standard input otherwise) and
print "NAME:VERIFIER" for a --users file. The password never appears on the
command line.

Schemes: bcrypt (the default), argon2id (RFC 9106, 64 MiB per check), and
scram-sha-256, which also lets clients log in with the SASL mechanism
SCRAM-SHA-256, so that the password never crosses the wire.`,
		Example: `  izypop3 passwd alice >> users.txt
  printf 'secret\n' | izypop3 passwd --scheme scram-sha-256 alice >> users.txt`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := noStoreConfig(cmd); err != nil {
				return err
			}
			name := args[0]
			if err := auth.ValidateUser(name); err != nil {
				return usageError{err}
			}
			if !slices.Contains(auth.Schemes, scheme) {
				return usageError{fmt.Errorf("--scheme %q: want one of %s", scheme, strings.Join(auth.Schemes, ", "))}
			}
			pw, err := readPassword()
			if err != nil {
				return err
			}
			if scheme == auth.SchemeBcrypt && len(pw) > 72 {
				return errors.New("bcrypt takes at most 72 octets of password: use --scheme argon2id or scram-sha-256")
			}
			hash, err := auth.HashPasswordScheme(scheme, pw)
			if err != nil {
				return err
			}
			fmt.Printf("%s:%s\n", name, hash)
			return nil
		},
	}
	cmd.Flags().StringVar(&scheme, "scheme", auth.SchemeBcrypt, "verifier scheme: "+strings.Join(auth.Schemes, ", "))
	return cmd
}

func readPassword() (string, error) {
	fd := int(os.Stdin.Fd())
	if isatty.IsTerminal(os.Stdin.Fd()) {
		fmt.Fprint(os.Stderr, "Password: ")
		a, err := term.ReadPassword(fd)
		fmt.Fprintln(os.Stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(os.Stderr, "Again: ")
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(os.Stderr)
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("passwords differ")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("no password on standard input")
	}
	return strings.TrimRight(line, "\r\n"), nil
}
