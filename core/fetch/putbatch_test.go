package fetch

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"testing"

	"github.com/izyware/izypop3/internal/mailgen"
	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/pluginhost"
)

// pluginStore is a store seen through a plugin connection (served over
// real gRPC in the test process, narrowed to what it advertises), as the
// fetcher sees a plugin, counting the Puts and PutBatch streams it gets.
type pluginStore struct {
	sdk.Store
	sdk.Syncer
	bp      sdk.BatchPutter
	puts    atomic.Int32
	batches atomic.Int32
}

func (p *pluginStore) Put(ctx context.Context, mailbox string, opts sdk.PutOptions, body io.Reader) (sdk.PutResult, error) {
	p.puts.Add(1)
	return p.Store.Put(ctx, mailbox, opts, body)
}

func (p *pluginStore) PutBatch(ctx context.Context, mailbox string) (sdk.BatchWriter, error) {
	p.batches.Add(1)
	return p.bp.PutBatch(ctx, mailbox)
}

func viaPlugin(t *testing.T, st sdk.Store) *pluginStore {
	t.Helper()
	r, stop, err := pluginhost.ServeInProcess(st, pluginhost.Info{Name: "fetchtest", Version: "t"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	})
	info, err := r.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := pluginhost.Narrow(r, info.Capabilities)
	sy, ok1 := n.(sdk.Syncer)
	bp, ok2 := n.(sdk.BatchPutter)
	if !ok1 || !ok2 {
		t.Fatalf("the plugin's store (capabilities %v) is not a Syncer and a BatchPutter", info.Capabilities)
	}
	return &pluginStore{Store: n, Syncer: sy, bp: bp}
}

// TestPutBatchOneStream: a session sends its messages over one PutBatch
// stream, no Put, and deletes on the server only what the barrier made
// durable.
func TestPutBatchOneStream(t *testing.T) {
	rs := startRemote(t, mailgen.Set(12, 40, 2000))
	ts := newTestStore()
	ps := viaPlugin(t, syncStore{ts})
	w := watchDeletes(t, rs, ps, ts)
	o := testOptions(t, rs, ps)
	o.BatchMessages = 6
	o.Delete = true
	sum := runOK(t, o)
	w.check(t)
	if sum.Stored != 40 || sum.Deleted != 40 {
		t.Errorf("summary %+v", sum)
	}
	// The second session finds nothing new and opens no stream.
	if p, b := ps.puts.Load(), ps.batches.Load(); p != 0 || b != 1 {
		t.Errorf("%d Puts and %d PutBatch streams (%d sessions), want no Put and one stream", p, b, sum.Sessions)
	}
	checkExactlyOnce(t, ps, rs.addr, wantMap(rs), nil)
}

// TestPutBatchConnectionBreaks: a message cut short fails alone (nothing of
// it stored) and the batch's other messages are stored; the rerun completes.
func TestPutBatchConnectionBreaks(t *testing.T) {
	for _, tc := range connectionBreaks {
		t.Run(tc.name, func(t *testing.T) {
			ps := viaPlugin(t, syncStore{newTestStore()})
			checkConnectionBreak(t, tc.breakIt, ps)
			if p := ps.puts.Load(); p != 0 {
				t.Errorf("%d Puts beside PutBatch", p)
			}
		})
	}
}

// TestPutBatchStoreFailure: a store error on one item of the stream stops
// the session, deletes nothing, and the rerun stores everything once.
func TestPutBatchStoreFailure(t *testing.T) {
	rs := startRemote(t, mailgen.Set(13, 30, 1000))
	ts := newTestStore()
	ts.failPut = func(n int) error {
		if n == 17 {
			return fmt.Errorf("%w: %w", sdk.ErrUnavailable, errInjected)
		}
		return nil
	}
	ps := viaPlugin(t, syncStore{ts})
	var deleted int
	rs.setOnUpdate(func(d []string) { deleted += len(d) })
	o := testOptions(t, rs, ps)
	o.Delete = true
	o.BatchMessages = 5
	sum, err := Run(context.Background(), o)
	wantKind(t, err, KindStore)
	if deleted != 0 {
		t.Errorf("%d messages deleted on the server in a session whose store failed", deleted)
	}
	if sum.Stored < 15 || sum.Stored > 16 {
		t.Errorf("stored %d before the failure at put 17 (%+v)", sum.Stored, sum)
	}
	ts.failPut = nil
	if sum = runOK(t, o); sum.Deleted != 30 {
		t.Errorf("rerun: %+v", sum)
	}
	checkExactlyOnce(t, ps, rs.addr, wantMap(rs), nil)
}

// aheadStore counts, on its PutBatch streams, the items sent and not yet
// answered.
type aheadStore struct {
	*pluginStore
	out, max atomic.Int32
}

func (a *aheadStore) PutBatch(ctx context.Context, mailbox string) (sdk.BatchWriter, error) {
	bw, err := a.pluginStore.PutBatch(ctx, mailbox)
	if err != nil {
		return nil, err
	}
	return &aheadWriter{BatchWriter: bw, bs: bw.(sdk.BatchSender), a: a}, nil
}

type aheadWriter struct {
	sdk.BatchWriter
	bs sdk.BatchSender
	a  *aheadStore
}

func (w *aheadWriter) Send(opts sdk.PutOptions, body io.Reader) error {
	if err := w.bs.Send(opts, body); err != nil {
		return err
	}
	if n := w.a.out.Add(1); n > w.a.max.Load() {
		w.a.max.Store(n)
	}
	return nil
}

func (w *aheadWriter) Result() (sdk.PutResult, error) {
	w.a.out.Add(-1)
	return w.bs.Result()
}

// TestPutBatchSendsAhead: the session keeps sendAhead messages (and the
// one being sent) with the store before it reads the oldest answer, and
// still stores every message once.
func TestPutBatchSendsAhead(t *testing.T) {
	rs := startRemote(t, mailgen.Set(14, 3*sendAhead, 500))
	ts := newTestStore()
	as := &aheadStore{pluginStore: viaPlugin(t, syncStore{ts})}
	o := testOptions(t, rs, as)
	o.BatchMessages = 2 * sendAhead
	if sum := runOK(t, o); sum.Stored != 3*sendAhead {
		t.Errorf("summary %+v", sum)
	}
	if got := as.max.Load(); got != sendAhead+1 {
		t.Errorf("at most %d messages were with the store unanswered, want %d", got, sendAhead+1)
	}
	checkExactlyOnce(t, as, rs.addr, wantMap(rs), nil)
}
