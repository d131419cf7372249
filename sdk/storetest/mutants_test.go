package storetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"iter"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/storetest/memstore"
)

// The suite is only as good as the bugs it catches. Each mutant below is the
// reference store with one plausible bug; TestSuiteCatchesMutants runs the
// subtest that should notice it in a child process and checks that it
// fails, and that the same subtests pass against the unmutated store.

// mutantEnv names the mutant TestMutantHelper runs the suite against.
const mutantEnv = "STORETEST_MUTANT"

var mutants = []struct {
	name    string
	subtest string // the subtest that must fail
}{
	{"size-off-by-one", "RoundTripSizes"},
	{"lf-to-crlf", "BinarySafety"},
	{"sourceid-ignored", "SourceID"},
	{"no-dup", "Duplicates"},
	{"lenient-mailbox", "InvalidMailbox"},
	{"notfound-as-error", "BatchUnknownUIDs"},
	{"limit-ignored", "ListFilterAndLimit"},
	{"stat-unread-only", "StatMatchesList"},
	{"partial-put", "PutBodyFails"},
	{"ignores-ctx", "CanceledContext"},
	{"leaky-fetch", "AbandonedFetch"},
	{"eof-on-cancel", "AbandonedFetch"},
	{"top-one-more", "TopFetcher"},
}

type mutant struct {
	*memstore.Store
	kind string
}

func (m *mutant) List(ctx context.Context, mailbox string, opts sdk.ListOptions) iter.Seq2[sdk.Item, error] {
	if m.kind == "limit-ignored" {
		opts.Limit = 0
	}
	inner := m.Store.List(ctx, m.mailbox(mailbox), opts)
	return func(yield func(sdk.Item, error) bool) {
		for it, err := range inner {
			if m.kind == "size-off-by-one" && it.Size > 0 {
				it.Size++
			}
			if !yield(it, err) {
				return
			}
		}
	}
}

// mailbox maps the names lenient-mailbox accepts to valid ones.
func (m *mutant) mailbox(name string) string {
	if m.kind == "lenient-mailbox" {
		return "lenient-" + strings.NewReplacer("/", "_", "\\", "_", "\x00", "_", ".", "_", "\n", "_").Replace(name)
	}
	return name
}

func (m *mutant) Stat(ctx context.Context, mailbox string) (map[sdk.Tag]sdk.TagStat, error) {
	st, err := m.Store.Stat(ctx, m.mailbox(mailbox))
	if m.kind == "stat-unread-only" && err == nil {
		st = map[sdk.Tag]sdk.TagStat{sdk.TagUnread: st[sdk.TagUnread]}
	}
	return st, err
}

func (m *mutant) Fetch(ctx context.Context, mailbox, uid string) (io.ReadCloser, error) {
	if m.kind == "ignores-ctx" {
		ctx = context.Background()
	}
	rc, err := m.Store.Fetch(ctx, m.mailbox(mailbox), uid)
	if err != nil {
		return nil, err
	}
	switch m.kind {
	case "lf-to-crlf":
		b, err := io.ReadAll(rc)
		if err != nil {
			return nil, err
		}
		b = bytes.ReplaceAll(bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
		return io.NopCloser(bytes.NewReader(b)), nil
	case "leaky-fetch":
		block := make(chan struct{})
		go func() { <-block }() // a goroutine per Fetch that never ends
	case "eof-on-cancel":
		return io.NopCloser(&eofOnCancel{ctx: ctx, r: rc}), nil
	}
	return rc, nil
}

// eofOnCancel reports a clean end of message once ctx is done: a silent
// truncation.
type eofOnCancel struct {
	ctx context.Context
	r   io.Reader
}

func (e *eofOnCancel) Read(p []byte) (int, error) {
	if e.ctx.Err() != nil {
		return 0, io.EOF
	}
	n, err := e.r.Read(p)
	if err != nil && e.ctx.Err() != nil {
		return n, io.EOF
	}
	return n, err
}

func (m *mutant) FetchTop(ctx context.Context, mailbox, uid string, lines int) (io.ReadCloser, error) {
	if m.kind == "top-one-more" {
		lines++
	}
	return m.Store.FetchTop(ctx, m.mailbox(mailbox), uid, lines)
}

func (m *mutant) SetTag(ctx context.Context, mailbox string, uids []string, tag sdk.Tag) ([]string, error) {
	if m.kind == "ignores-ctx" {
		ctx = context.Background()
	}
	nf, err := m.Store.SetTag(ctx, m.mailbox(mailbox), uids, tag)
	if m.kind == "notfound-as-error" && len(nf) > 0 {
		return nil, fmt.Errorf("%w: %v", sdk.ErrNotFound, nf)
	}
	return nf, err
}

func (m *mutant) Delete(ctx context.Context, mailbox string, uids []string) ([]string, error) {
	if m.kind == "ignores-ctx" {
		ctx = context.Background()
	}
	return m.Store.Delete(ctx, m.mailbox(mailbox), uids)
}

func (m *mutant) Put(ctx context.Context, mailbox string, opts sdk.PutOptions, body io.Reader) (sdk.PutResult, error) {
	mailbox = m.mailbox(mailbox)
	switch m.kind {
	case "ignores-ctx":
		ctx = context.Background()
	case "sourceid-ignored":
		opts.SourceID = ""
	case "partial-put":
		b, err := io.ReadAll(body)
		res, perr := m.Store.Put(ctx, mailbox, opts, bytes.NewReader(b))
		if err != nil {
			return sdk.PutResult{}, err
		}
		return res, perr
	}
	res, err := m.Store.Put(ctx, mailbox, opts, body)
	if m.kind == "no-dup" && err == nil && res.DuplicateOf != "" {
		want := opts.Tag
		if want == "" {
			want = sdk.TagUnread
		}
		if _, err := m.Store.SetTag(ctx, mailbox, []string{res.UID}, want); err != nil {
			return res, err
		}
		res.Tag, res.DuplicateOf = want, ""
	}
	return res, err
}

// TestMutantHelper runs the suite against the mutant named by
// STORETEST_MUTANT ("none" for the unmutated store); it is run by
// TestSuiteCatchesMutants in a child process.
func TestMutantHelper(t *testing.T) {
	kind := os.Getenv(mutantEnv)
	if kind == "" {
		t.Skip("run by TestSuiteCatchesMutants")
	}
	Run(t, func(t *testing.T) sdk.Store { return &mutant{Store: newMemStore(), kind: kind} })
}

func TestSuiteCatchesMutants(t *testing.T) {
	if os.Getenv(mutantEnv) != "" {
		t.Skip("in a child process")
	}
	run := func(kind, pattern string) (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMutantHelper$/^("+pattern+")$", "-test.short", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), mutantEnv+"="+kind)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	var subtests []string
	for _, m := range mutants {
		subtests = append(subtests, m.subtest)
	}
	if out, err := run("none", strings.Join(subtests, "|")); err != nil {
		t.Fatalf("the unmutated store fails the subtests the mutants are checked with: %v\n%s", err, out)
	}
	for _, m := range mutants {
		t.Run(m.name, func(t *testing.T) {
			out, err := run(m.name, m.subtest)
			if err == nil {
				t.Fatalf("the suite did not notice mutant %q: %s passed\n%s", m.name, m.subtest, out)
			}
			if !strings.Contains(out, "--- FAIL: TestMutantHelper/"+m.subtest) {
				t.Fatalf("mutant %q: the child failed, but not in %s:\n%s", m.name, m.subtest, out)
			}
		})
	}
}

var _ sdk.Store = (*mutant)(nil)
