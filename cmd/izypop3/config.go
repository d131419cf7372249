package main

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/izyware/izypop3/internal/config"
)

// Every flag of every command can also come from the environment
// (IZYPOP3_<FLAG>) and, for the commands that take --config, from a TOML
// file; internal/config says how. A command gets the mechanism by defining
// its flags as usual: nothing else to register. A command that reads a
// configuration file calls enableConfigFile.

// configAnnotation marks a command that takes --config; its value lists the
// [PREFIX.NAME] table prefixes the command reads itself (comma-separated).
const configAnnotation = "izypop3/config-sections"

// noConfigFlags are never read from the file or the environment.
var noConfigFlags = []string{"config", "help", "version"}

// storeAliases are other names of flags: the seed's mimestore.modhandler.
var storeAliases = map[string]string{storeConfigPrefix + "modhandler": "modhandler"}

// enableConfigFile gives cmd a --config FILE flag. sections are the table
// prefixes of named blocks the command reads itself with configFile (for
// example "account" for [account.NAME]); any other key must name a flag.
func enableConfigFile(cmd *cobra.Command, sections ...string) {
	cmd.Flags().String("config", "", "read options from this TOML file (keys are the flag names; see docs/guide.md); flags and $IZYPOP3_* variables win over it")
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[configAnnotation] = strings.Join(sections, ",")
}

// loadedConfig is the configuration file of the running command (nil for
// none), for commands that read sections of it.
var loadedConfig *config.File

// storeConfigSrc says where each key of globalStoreConfig was set when not
// on the command line: "FILE:LINE" or "$IZYPOP3_MIMESTORE_KEY".
var storeConfigSrc map[string]string

// commandLineFlags names the flags of the running command given on the
// command line (before the environment and the file filled the others).
var commandLineFlags map[string]bool

// configFile returns the configuration file the running command read, or nil.
func configFile() *config.File { return loadedConfig }

// resolveConfig fills every flag of cmd not given on the command line from
// the environment, else from its --config file, and returns the store's
// configuration: the command line's --mimestore.* options (cmdStore) over
// the environment's over the file's. environ is os.Environ().
func resolveConfig(cmd *cobra.Command, cmdStore map[string]string, environ []string) (store map[string]string, file *config.File, err error) {
	store, _, file, err = resolveConfigSrc(cmd, cmdStore, environ)
	return store, file, err
}

// resolveConfigSrc is resolveConfig that also says where each store key not
// on the command line was set.
func resolveConfigSrc(cmd *cobra.Command, cmdStore map[string]string, environ []string) (store, src map[string]string, file *config.File, err error) {
	fs := cmd.Flags()
	commandLineFlags = map[string]bool{}
	fs.Visit(func(fl *pflag.Flag) { commandLineFlags[fl.Name] = true })
	sections, takesFile := cmd.Annotations[configAnnotation]
	if takesFile {
		path := fs.Lookup("config").Value.String()
		if path == "" {
			path = lookupEnv(environ, config.EnvName("config"))
		}
		if path != "" {
			if file, err = config.Load(path); err != nil {
				return nil, nil, nil, usageError{err}
			}
		}
	}
	opts := config.Options{
		File:    file,
		Environ: environ,
		Skip:    noConfigFlags,
		Command: cmd.Name(),
	}
	if sections != "" {
		opts.Sections = strings.Split(sections, ",")
	}
	takesStore := fs.Lookup("modhandler") != nil
	if takesStore {
		opts.Pass = []string{strings.TrimSuffix(storeConfigPrefix, ".")}
		opts.Aliases = storeAliases
	}
	pass, err := config.Apply(fs, opts)
	if err != nil {
		return nil, nil, nil, usageError{err}
	}
	store, src = map[string]string{}, map[string]string{}
	for k, v := range pass {
		k = strings.TrimPrefix(k, storeConfigPrefix)
		store[k], src[k] = v.Text, v.Src
	}
	for k, v := range cmdStore {
		store[k] = v
		delete(src, k)
	}
	return store, src, file, nil
}

// applySection fills the flags of fs not given on the command line for the
// [prefix] block of file (clientpop3's [account.NAME]), highest first: the
// environment, the block, the top level of the file (sections are the
// table prefixes read elsewhere). The block may not set the flags of skip.
// It returns the store configuration: the environment's over the block's
// over the top level's mimestore.* keys (those only when the block names no
// store of its own), and where each key was set.
func applySection(fs *pflag.FlagSet, file *config.File, prefix string, sections, skip []string, environ []string) (store, src map[string]string, err error) {
	block := file.Sub(prefix)
	storeOpts := func(f *config.File, env, skip, sections []string, cmd string) config.Options {
		return config.Options{
			File:     f,
			Environ:  env,
			Skip:     append(slices.Clone(noConfigFlags), skip...),
			Pass:     []string{strings.TrimSuffix(storeConfigPrefix, ".")},
			Sections: sections,
			Aliases:  storeAliases,
			Command:  cmd,
		}
	}
	own, err := config.Apply(fs, storeOpts(block, environ, skip, nil, "["+prefix+"]"))
	if err != nil {
		return nil, nil, usageError{err}
	}
	top, err := config.Apply(fs, storeOpts(file, nil, nil, sections, "clientpop3"))
	if err != nil {
		return nil, nil, usageError{err}
	}
	if _, ok := block.Lookup("modhandler"); ok {
		top = nil
	} else if _, ok := block.Lookup(storeConfigPrefix + "modhandler"); ok {
		top = nil
	}
	store, src = map[string]string{}, map[string]string{}
	for _, pass := range []map[string]config.Value{top, own} {
		for k, v := range pass {
			k = strings.TrimPrefix(k, storeConfigPrefix)
			store[k], src[k] = v.Text, v.Src
		}
	}
	return store, src, nil
}

func lookupEnv(environ []string, name string) string {
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	return ""
}

// readSecretFile returns the first line of a password file (--password-file).
func readSecretFile(flag, path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--%s: %w", flag, err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	line = strings.TrimRight(line, "\r")
	if line == "" {
		return "", fmt.Errorf("--%s %s: the first line is empty", flag, path)
	}
	return line, nil
}
