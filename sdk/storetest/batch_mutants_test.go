package storetest

import (
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/storetest/memstore"
)

// Mutants of the FetchBatch path: the reference store with a bug that only
// shows when its Fetch is called item after item on one stream. They run
// through RunGRPC (only a store behind a plugin connection has FetchBatch),
// in a child process, like the mutants of mutants_test.go.

// batchMutantEnv names the mutant TestBatchMutantHelper runs against.
const batchMutantEnv = "STORETEST_BATCH_MUTANT"

// batchMutantTimeout replaces batchTimeout in the child process, so that a
// mutant that hangs a batch fails in seconds.
const batchMutantTimeout = 3 * time.Second

var batchMutants = []struct {
	name    string
	subtest string // the subtest of FetchBatch that must fail
}{
	// Fetch takes the mailbox for the whole request: released when the
	// request's context ends, which a unary Fetch reaches after its item but
	// a batch only after its last item. The second item of a batch waits for
	// ever.
	{"ctx-scoped-lock", "InOrder"},
	// Fetch opens a file it never closes (and keeps it, so that no
	// finalizer closes it).
	{"fd-leak", "Abandon"},
}

type batchMutant struct {
	*memstore.Store
	kind string
	lock chan struct{} // ctx-scoped-lock: the mailbox, held by one request

	mu    sync.Mutex
	files []*os.File // fd-leak: every file opened
}

func (m *batchMutant) Fetch(ctx context.Context, mailbox, uid string) (io.ReadCloser, error) {
	switch m.kind {
	case "ctx-scoped-lock":
		select {
		case m.lock <- struct{}{}:
			context.AfterFunc(ctx, func() { <-m.lock })
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	case "fd-leak":
		f, err := os.Open(os.DevNull)
		if err != nil {
			return nil, err
		}
		m.mu.Lock()
		m.files = append(m.files, f)
		m.mu.Unlock()
	}
	return m.Store.Fetch(ctx, mailbox, uid)
}

// TestBatchMutantHelper runs the suite over gRPC against the mutant named
// by STORETEST_BATCH_MUTANT ("none" for the unmutated store); it is run by
// TestSuiteCatchesBatchMutants in a child process.
func TestBatchMutantHelper(t *testing.T) {
	kind := os.Getenv(batchMutantEnv)
	if kind == "" {
		t.Skip("run by TestSuiteCatchesBatchMutants")
	}
	batchTimeout = batchMutantTimeout
	RunGRPC(t, func(t *testing.T) sdk.Store {
		return &batchMutant{Store: newMemStore(), kind: kind, lock: make(chan struct{}, 1)}
	})
}

func TestSuiteCatchesBatchMutants(t *testing.T) {
	if os.Getenv(batchMutantEnv) != "" || os.Getenv(mutantEnv) != "" {
		t.Skip("in a child process")
	}
	run := func(kind, pattern string) (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestBatchMutantHelper$/^FetchBatch$/^("+pattern+")$",
			"-test.short", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), batchMutantEnv+"="+kind)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	var subtests []string
	for _, m := range batchMutants {
		subtests = append(subtests, m.subtest)
	}
	out, err := run("none", strings.Join(subtests, "|"))
	if err != nil {
		t.Fatalf("the unmutated store fails the subtests the batch mutants are checked with: %v\n%s", err, out)
	}
	for _, sub := range subtests {
		if !strings.Contains(out, "--- PASS: TestBatchMutantHelper/FetchBatch/"+sub) {
			t.Fatalf("the unmutated store did not run FetchBatch/%s:\n%s", sub, out)
		}
	}
	for _, m := range batchMutants {
		t.Run(m.name, func(t *testing.T) {
			out, err := run(m.name, m.subtest)
			if err == nil {
				t.Fatalf("the suite did not notice batch mutant %q: FetchBatch/%s passed\n%s", m.name, m.subtest, out)
			}
			if !strings.Contains(out, "--- FAIL: TestBatchMutantHelper/FetchBatch/"+m.subtest) {
				t.Fatalf("batch mutant %q: the child failed, but not in FetchBatch/%s:\n%s", m.name, m.subtest, out)
			}
		})
	}
}

var _ sdk.Store = (*batchMutant)(nil)
