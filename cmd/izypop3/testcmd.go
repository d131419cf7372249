package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/izyware/izypop3/core/selftest"
	"github.com/izyware/izypop3/core/storehost"
	"github.com/izyware/izypop3/sdk"
)

type testFlags struct {
	store    storeFlags
	log      logFlags
	testtype string
	limit    int
	tags     []string
	mailbox  string
}

func newTestCmd() *cobra.Command {
	var f testFlags
	cmd := &cobra.Command{
		Use:   "test",
		Short: "Run the seed's self-tests (fullclientserver, mimestore)",
		Long: `Run a self-test and print one line per check; exit non-zero on any failure.

  fullclientserver  start a POP3 server over the store on a free loopback port and run
                    the seed's scenarios (badlogin, listandquit, pop3failed, retrsuccess)
                    plus pipelining and DELE/QUIT with the real client
  mimestore         list items of a store (--query.limit, --query.tags, --mailbox)`,
		Example: `  izypop3 test --testtype fullclientserver
  izypop3 test testtype mimestore mimestore.modhandler fake query.limit 2 query.tags unread`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runTest(cmd.Context(), f) },
	}
	f.store.register(cmd, "fake")
	fl := cmd.Flags()
	fl.StringVar(&f.testtype, "testtype", "", "fullclientserver or mimestore (required)")
	fl.IntVar(&f.limit, "query.limit", 0, "mimestore: list at most this many items (0: all)")
	fl.StringSliceVar(&f.tags, "query.tags", nil, "mimestore: only items with these tags (default: all; an unknown tag matches nothing)")
	fl.StringVar(&f.mailbox, "mailbox", "selftest", "mimestore: the mailbox to list")
	fl.StringVar(&f.log.format, "log-format", "text", "log format: auto, text or json")
	fl.StringVar(&f.log.level, "log-level", "warn", "log level: trace, debug, info, warn, error")
	return cmd
}

func runTest(ctx context.Context, f testFlags) error {
	log, err := f.log.logger(os.Stderr)
	if err != nil {
		return err
	}
	var tags []sdk.Tag
	for _, t := range f.tags {
		// An unknown tag is the self-test's warning, as in the seed.
		tags = append(tags, sdk.Tag(strings.TrimSpace(t)))
	}
	if f.limit < 0 {
		return usageError{errors.New("--query.limit must be >= 0")}
	}
	switch f.testtype {
	case "fullclientserver", "mimestore":
	case "":
		return usageError{errors.New("--testtype is required: fullclientserver or mimestore")}
	default:
		return usageError{fmt.Errorf("--testtype %q: want fullclientserver or mimestore", f.testtype)}
	}

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	defer storehost.Cleanup()
	host, err := f.store.open(ctx, log)
	if err != nil {
		return err
	}
	defer host.Close()
	info := host.Info()
	fmt.Printf("store %s %s (%s)\n", info.Name, info.Version, host.Path())

	switch f.testtype {
	case "fullclientserver":
		return selftest.FullClientServer(ctx, os.Stdout, host.Store(), selftest.Options{Logger: log})
	default:
		return selftest.MimeStore(ctx, os.Stdout, host.Store(), f.mailbox, f.limit, tags)
	}
}
