package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/izyware/izypop3/core/fetch"
	"github.com/izyware/izypop3/core/storehost"
	"github.com/izyware/izypop3/internal/metrics"
	"github.com/izyware/izypop3/sdk"
)

// accountSection is the table prefix of clientpop3's accounts in the
// --config file: [account.NAME].
const accountSection = "account"

// globalClientFlags apply to every account of a run: an [account.NAME]
// block may not set them.
var globalClientFlags = []string{"parallel", "account", "http-listen", "interval"}

// clientJobs returns the accounts to fetch: the [account.NAME] blocks of
// the --config file (those --account selects), else the one account of the
// command line. The flags of a block's account come, highest first, from
// the command line, the environment, the block, the top of the file.
func clientJobs(cmd *cobra.Command, f clientFlags) ([]*clientJob, error) {
	file := configFile()
	names := file.Names(accountSection)
	out, errw := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if len(names) == 0 {
		if len(f.accounts) > 0 {
			return nil, usageError{fmt.Errorf("--account needs a --config file with [%s.NAME] tables", accountSection)}
		}
		cj := &clientJob{f: f, out: out, errw: errw, storeCfg: globalStoreConfig, storeSrc: storeConfigSrc}
		if err := cj.parse(); err != nil {
			return nil, err
		}
		cj.label = cj.opts.Account.User + "@" + cj.opts.Account.Addr
		return []*clientJob{cj}, nil
	}
	for _, a := range f.accounts {
		if !slices.Contains(names, a) {
			return nil, usageError{fmt.Errorf("--account %q: %s has no [%s.%s] (it has %s)", a, file.Path, accountSection, a, strings.Join(names, ", "))}
		}
	}
	// The command line's --mimestore.* options: those set nowhere else.
	cmdStore := map[string]string{}
	for k, v := range globalStoreConfig {
		if storeConfigSrc[k] == "" {
			cmdStore[k] = v
		}
	}
	mainFlags := cmd.Flags()
	var mu sync.Mutex // one line at a time on stdout and stderr
	var jobs []*clientJob
	for _, name := range names {
		if len(f.accounts) > 0 && !slices.Contains(f.accounts, name) {
			continue
		}
		prefix := accountSection + "." + name
		block := file.Sub(prefix)
		for _, k := range block.Keys() {
			if slices.Contains(globalClientFlags, k) {
				v, _ := block.Lookup(k)
				return nil, usageError{fmt.Errorf("%s: %s is for every account: set it at the top of the file, before the [%s.NAME] tables", v.Src, k, accountSection)}
			}
		}
		var af clientFlags
		c := &cobra.Command{Use: cmd.Name()}
		af.register(c)
		fs := c.Flags()
		for n := range commandLineFlags {
			fl := fs.Lookup(n)
			if fl == nil || slices.Contains(globalClientFlags, n) {
				continue
			}
			if err := fl.Value.Set(mainFlags.Lookup(n).Value.String()); err != nil {
				return nil, usageError{fmt.Errorf("--%s: %w", n, err)}
			}
			fl.Changed = true
		}
		store, src, err := applySection(fs, file, prefix, []string{accountSection}, globalClientFlags, os.Environ())
		if err != nil {
			return nil, err
		}
		for k, v := range cmdStore {
			store[k] = v
			delete(src, k)
		}
		cj := &clientJob{
			name:     name,
			label:    name,
			f:        af,
			out:      &prefixWriter{mu: &mu, w: out, prefix: name + ": "},
			errw:     &prefixWriter{mu: &mu, w: errw, prefix: name + ": "},
			storeCfg: store,
			storeSrc: src,
		}
		if err := cj.parse(); err != nil {
			return nil, usageError{cj.errorf("%v", err)}
		}
		jobs = append(jobs, cj)
	}
	return jobs, nil
}

// sharedStore is a store plugin used by the accounts whose store settings
// are the same: started once, by the first account that needs it.
type sharedStore struct {
	flags    storeFlags
	cfg, src map[string]string
	log      *slog.Logger
	retry    bool // after a failed start, try again at the next get

	mu   sync.Mutex
	host *storehost.Host
	err  error
}

// get returns the store, starting its plugin if need be. A nil
// sharedStore is no store.
func (s *sharedStore) get(ctx context.Context) (sdk.Store, error) {
	if s == nil {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.host != nil {
		return s.host.Store(), nil
	}
	if s.err != nil && !s.retry {
		return nil, s.err
	}
	h, err := s.flags.openConfig(ctx, s.log, s.cfg, s.src)
	if err != nil {
		var ue usageError
		if !errors.As(err, &ue) {
			err = exitCodeError{exitStore, err}
		}
		s.err = err
		return nil, err
	}
	s.host, s.err = h, nil
	return h.Store(), nil
}

func (s *sharedStore) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.host != nil {
		s.host.Close()
		s.host = nil
	}
}

// openStores gives every job that names a store its sharedStore (one per
// distinct store: plugin, plugin options and config block) and starts
// them. A bad store configuration is an error; a store that fails to start
// fails the runs of its accounts instead (with retry, each run tries
// again).
func openStores(ctx context.Context, jobs []*clientJob, reg *metrics.Registry, retry bool) ([]*sharedStore, error) {
	byKey := map[string]*sharedStore{}
	var stores []*sharedStore
	for _, cj := range jobs {
		sf := cj.f.store
		if sf.modhandler == "" {
			continue
		}
		key := strings.Join([]string{sf.modhandler, sf.pluginDir, sf.pluginPath, sf.pluginSum}, "\x00")
		for _, k := range slices.Sorted(maps.Keys(cj.storeCfg)) {
			key += "\x00" + k + "=" + cj.storeCfg[k]
		}
		s := byKey[key]
		if s == nil {
			if reg != nil {
				sf.observer = reg.Store()
			}
			s = &sharedStore{flags: sf, cfg: cj.storeCfg, src: cj.storeSrc, log: cj.opts.Logger, retry: retry}
			byKey[key] = s
			stores = append(stores, s)
		}
		cj.store = s
	}
	for _, s := range stores {
		_, err := s.get(ctx)
		var ue usageError
		if errors.As(err, &ue) {
			return stores, err
		}
		if err == nil && reg != nil {
			reg.StoreOpened(s.host.Info().Name)
		}
	}
	return stores, nil
}

// runJobs runs every job, at most parallel at a time, each once or, with
// interval, until stop. With several accounts the error is that of the
// first account (in file order) that failed, its exit code the run's.
func runJobs(ctx context.Context, jobs []*clientJob, parallel int, interval time.Duration, stop <-chan struct{}, fm *metrics.FetchMetrics) error {
	sem := make(chan struct{}, parallel)
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, cj := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = cj.loop(ctx, sem, interval, stop, fm)
		}()
	}
	wg.Wait()
	if len(jobs) == 1 && jobs[0].name == "" {
		return errs[0]
	}
	var failed []string
	var first error
	for i, err := range errs {
		if err != nil {
			first = orErr(first, err)
			failed = append(failed, jobs[i].name)
		}
	}
	if first == nil {
		return nil
	}
	return exitCodeError{exitCodeOf(first), fmt.Errorf("%d of %d accounts failed: %s", len(failed), len(jobs), strings.Join(failed, ", "))}
}

// orErr returns a if set, else b.
func orErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// exitCodeOf is the exit code run gives err.
func exitCodeOf(err error) int {
	var ue usageError
	var ec exitCodeError
	switch {
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &ec):
		return ec.code
	}
	return exitError
}

// loop runs the job once, or with interval again interval after each run
// ends until stop is closed (a failed run is reported and retried, after a
// longer wait while it keeps failing).
func (cj *clientJob) loop(ctx context.Context, sem chan struct{}, interval time.Duration, stop <-chan struct{}, fm *metrics.FetchMetrics) error {
	var total fetch.Summary
	runs, failedRuns, streak := 0, 0, 0
	stopped := func() error {
		if interval > 0 && !cj.f.quiet {
			fmt.Fprintf(cj.out, "stopped: %s, %d failed; in all %s\n", plural(runs, "run"), failedRuns, summaryLine(total, cj.f.dryRun))
		}
		return nil
	}
	for {
		select {
		case <-stop:
			return stopped()
		case <-ctx.Done():
			return ctx.Err()
		case sem <- struct{}{}:
		}
		var sum fetch.Summary
		var err error
		switch cj.f.cmd {
		case "list", "stat":
			err = cj.inspect(ctx, cj.f.cmd == "list")
		default:
			sum, err = cj.runOnce(ctx)
			// The metrics first: once the summary is out, they count the run.
			if fm != nil {
				fm.Run(cj.label, sum, err)
			}
			if !cj.f.quiet {
				fmt.Fprintln(cj.out, summaryLine(sum, cj.f.dryRun))
			}
		}
		<-sem
		if err != nil && ctx.Err() != nil {
			// A second signal: exit code 1, whatever the run broke on.
			err = fmt.Errorf("aborted by a second signal: %v", err)
		}
		if interval <= 0 {
			if err != nil && cj.name != "" {
				fmt.Fprintln(cj.errw, "izypop3:", err)
			}
			return err
		}
		runs++
		addSummary(&total, sum)
		wait := interval
		if err != nil {
			failedRuns++
			if ctx.Err() != nil {
				return err
			}
			if fetch.KindOf(err) == fetch.KindPartial {
				streak = 0
			} else {
				streak++
				wait = backoff(interval, streak)
			}
			fmt.Fprintf(cj.errw, "izypop3: run failed (next run in %s): %v\n", wait, err)
		} else {
			streak = 0
		}
		select {
		case <-stop:
			return stopped()
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// plural is "1 run", "2 runs".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// backoff is the wait after the failures-th failed run in a row: interval,
// doubled at each further failure up to 16 × interval or an hour, whichever
// is less (never less than interval).
func backoff(interval time.Duration, failures int) time.Duration {
	if interval >= time.Hour {
		return interval
	}
	limit := min(16*interval, time.Hour)
	d := interval
	for i := 1; i < failures && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// addSummary adds the counts of s to t.
func addSummary(t *fetch.Summary, s fetch.Summary) {
	t.Stored += s.Stored
	t.Dup += s.Dup
	t.ConversionError += s.ConversionError
	t.Held += s.Held
	t.TooBig += s.TooBig
	t.Failed += s.Failed
	t.Deleted += s.Deleted
	t.WouldFetch += s.WouldFetch
	t.WouldDelete += s.WouldDelete
	t.Bytes += s.Bytes
	t.Sessions += s.Sessions
	t.Elapsed += s.Elapsed
}

// prefixWriter writes whole lines to w, each starting with prefix, one
// writer of those sharing mu at a time.
type prefixWriter struct {
	mu     *sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		if _, err := io.WriteString(p.w, p.prefix+string(p.buf[:i+1])); err != nil {
			return 0, err
		}
		p.buf = p.buf[i+1:]
	}
	p.buf = slices.Clip(p.buf)
	return len(b), nil
}
