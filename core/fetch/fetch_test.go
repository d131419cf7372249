package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/izyware/izypop3/internal/mailgen"
	"github.com/izyware/izypop3/sdk"
)

func wantMap(rs *remoteServer) map[string][]byte {
	out := map[string][]byte{}
	for k, v := range rs.msgs {
		out[k] = v
	}
	return out
}

func TestSyncStoresEachMessageOnce(t *testing.T) {
	for _, tc := range []struct {
		name   string
		window int
		sync   bool
	}{
		{"pipelined, barrier", 0, true},
		{"pipelined, durable puts", 0, false},
		{"lock-step", 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msgs := mailgen.Set(1, 90, 3000)
			rs := startRemote(t, msgs)
			ts := newTestStore()
			var st sdk.Store = ts
			if tc.sync {
				st = syncStore{ts}
			}
			o := testOptions(t, rs, st)
			o.Window = tc.window
			o.BatchMessages = 7 // several batches
			var events []Event
			o.OnMessage = func(e Event) { events = append(events, e) }
			sum := runOK(t, o)
			if sum.Stored != 90 || sum.Failed != 0 || sum.Held != 0 {
				t.Fatalf("summary %+v", sum)
			}
			if sum.Sessions != 2 {
				t.Errorf("%d sessions, want 2 (the second finds nothing new)", sum.Sessions)
			}
			checkExactlyOnce(t, st, rs.addr, wantMap(rs), nil)
			if tc.sync && ts.syncs < 2*(90/7) {
				t.Errorf("%d barriers for 13 batches", ts.syncs)
			}
			var wire int64
			for _, m := range msgs {
				wire += int64(len(mailgen.WireForm(m)))
			}
			if sum.Bytes != wire {
				t.Errorf("Bytes = %d, want %d", sum.Bytes, wire)
			}
			if len(rs.UIDs(testUser)) != 90 {
				t.Errorf("keep mode deleted messages on the server")
			}
			// Second run: nothing new.
			sum = runOK(t, o)
			if sum.Fetched() != 0 || sum.Held != 90 || sum.Sessions != 1 {
				t.Errorf("second run: %+v", sum)
			}
			checkExactlyOnce(t, st, rs.addr, wantMap(rs), nil)
		})
	}
}

func TestSyncDeleteOnlyWhatIsDurable(t *testing.T) {
	msgs := mailgen.Set(2, 40, 2000)
	rs := startRemote(t, msgs)
	ts := newTestStore()
	st := syncStore{ts}
	w := watchDeletes(t, rs, st, ts)
	o := testOptions(t, rs, st)
	o.BatchMessages = 6
	o.Delete = true
	sum := runOK(t, o)
	w.check(t)
	if sum.Deleted != 40 || len(rs.UIDs(testUser)) != 0 || len(w.deleted) != 40 {
		t.Errorf("summary %+v, %d left on the server, %d deleted", sum, len(rs.UIDs(testUser)), len(w.deleted))
	}
	checkExactlyOnce(t, st, rs.addr, wantMap(rs), nil)
}

func TestDeleteLaterRun(t *testing.T) {
	// Fetched with --keep, then a run with --delete deletes what is held.
	rs := startRemote(t, mailgen.Set(3, 10, 500))
	st := syncStore{newTestStore()}
	o := testOptions(t, rs, st)
	runOK(t, o)
	o.Delete = true
	sum := runOK(t, o)
	if sum.Deleted != 10 || sum.Fetched() != 0 || len(rs.UIDs(testUser)) != 0 {
		t.Errorf("summary %+v, %d left", sum, len(rs.UIDs(testUser)))
	}
}

func TestDeleteAfter(t *testing.T) {
	rs := startRemote(t, mailgen.Set(4, 6, 500))
	st := syncStore{newTestStore()}
	o := testOptions(t, rs, st)
	runOK(t, o)
	o.DeleteAfter = time.Hour
	if sum := runOK(t, o); sum.Deleted != 0 {
		t.Errorf("deleted %d messages held for less than an hour", sum.Deleted)
	}
	time.Sleep(20 * time.Millisecond)
	o.DeleteAfter = 10 * time.Millisecond
	if sum := runOK(t, o); sum.Deleted != 6 {
		t.Errorf("deleted %d, want 6", sum.Deleted)
	}
}

func TestDupAndConversionError(t *testing.T) {
	base := mailgen.Set(5, 4, 800)
	msgs := [][]byte{base[0], base[1], base[0], mailgen.Broken(1), base[2]}
	rs := startRemote(t, msgs)
	st := syncStore{newTestStore()}
	// base[2] is in the mailbox already (delivered some other way).
	if _, err := st.Put(context.Background(), testMailbox, sdk.PutOptions{}, bytes.NewReader(mailgen.WireForm(base[2]))); err != nil {
		t.Fatal(err)
	}
	o := testOptions(t, rs, st)
	sum := runOK(t, o)
	if sum.Stored != 2 || sum.Dup != 2 || sum.ConversionError != 1 {
		t.Errorf("summary %+v", sum)
	}
	want := wantMap(rs)
	checkExactlyOnce(t, st, rs.addr, want, map[string]sdk.Tag{
		"uidl-0003": sdk.TagDup, "uidl-0004": sdk.TagConversionError, "uidl-0005": sdk.TagDup,
	})
}

func TestStagedLeftovers(t *testing.T) {
	msgs := mailgen.Set(6, 5, 700)
	rs := startRemote(t, msgs)
	st := syncStore{newTestStore()}
	prefix, _ := (Account{Addr: rs.addr, User: testUser}).SourceIDPrefix()
	ctx := context.Background()
	put := func(opts sdk.PutOptions, data []byte) string {
		t.Helper()
		res, err := st.Put(ctx, testMailbox, opts, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		return res.UID
	}
	// 1: staged whole by a run killed before tagging: adopted.
	adopted := put(sdk.PutOptions{Tag: sdk.TagStaged, SourceID: prefix + "uidl-0001"}, mailgen.WireForm(msgs[0]))
	// 2: staged but damaged (a crash cut it): removed, fetched again.
	put(sdk.PutOptions{Tag: sdk.TagStaged, SourceID: prefix + "uidl-0002"}, mailgen.WireForm(msgs[1])[:100])
	// 3: a staged copy that lost its SourceID: not a dup original.
	put(sdk.PutOptions{Tag: sdk.TagStaged}, mailgen.WireForm(msgs[2]))

	o := testOptions(t, rs, st)
	sum, err := Run(ctx, o)
	wantKind(t, err, KindPartial)
	if sum.Failed != 1 || sum.Stored != 4 {
		t.Errorf("summary %+v: want the damaged one failed (and removed), 4 stored", sum)
	}
	// The next run fetches the damaged one whole.
	if sum := runOK(t, o); sum.Stored != 1 {
		t.Errorf("rerun: %+v", sum)
	}
	all := items(t, st)
	if it, ok := all[adopted]; !ok || it.Tag != sdk.TagUnread {
		t.Errorf("the whole staged item was not adopted: %+v", it.Item)
	}
	// Drop the orphan staged copy (not ours) before the exactly-once check.
	for uid, it := range all {
		if it.SourceID == "" && it.Tag == sdk.TagStaged {
			st.Delete(ctx, testMailbox, []string{uid})
		}
	}
	checkExactlyOnce(t, st, rs.addr, wantMap(rs), nil)
}

func TestLimitMaxSizeRetrDryRun(t *testing.T) {
	msgs := mailgen.Set(7, 12, 600)
	msgs[3] = mailgen.Message(7, 3, 50000)
	rs := startRemote(t, msgs)
	st := syncStore{newTestStore()}
	o := testOptions(t, rs, st)

	// Dry run: nothing changes.
	o.DryRun, o.Delete = true, true
	var would []string
	o.OnMessage = func(e Event) { would = append(would, string(e.Outcome)) }
	sum := runOK(t, o)
	if sum.WouldFetch != 12 || sum.WouldDelete != 12 || len(items(t, st)) != 0 || len(rs.UIDs(testUser)) != 12 {
		t.Fatalf("dry run: %+v, %d items", sum, len(items(t, st)))
	}
	o.DryRun, o.Delete, o.OnMessage = false, false, nil

	o.MaxSize = 10000
	o.Limit = 5
	sum = runOK(t, o)
	if sum.Stored != 5 || sum.TooBig != 1 || sum.Sessions != 1 {
		t.Errorf("limited run: %+v", sum)
	}
	o.Limit = 0
	o.Mode = ModeRetr
	o.Numbers = []int{4, 9, 10, 1, 99}
	o.MaxSize = 0
	sum, err := Run(context.Background(), o)
	wantKind(t, err, KindPartial) // message 99 does not exist
	if sum.Stored != 3 || sum.Held != 1 || sum.Failed != 1 {
		t.Errorf("retr run: %+v", sum)
	}
	o.Mode = ModeSync
	runOK(t, o)
	checkExactlyOnce(t, st, rs.addr, wantMap(rs), nil)
}

func TestStoreFailureDeletesNothing(t *testing.T) {
	rs := startRemote(t, mailgen.Set(8, 30, 1000))
	ts := newTestStore()
	ts.failPut = func(n int) error {
		if n == 17 {
			return fmt.Errorf("%w: %w", sdk.ErrUnavailable, errInjected)
		}
		return nil
	}
	failedSessionDeletesNothing(t, rs, ts, "store failed", func(sum Summary) bool {
		return sum.Stored >= 15 && sum.Stored <= 16 // before the failure at put 17
	}, func() { ts.failPut = nil })
}

// A barrier that fails ends the session like any store failure: only the
// batches settled before are stored, nothing is deleted on the server, and
// the rerun stores the rest exactly once.
func TestBarrierFailureDeletesNothing(t *testing.T) {
	rs := startRemote(t, mailgen.Set(9, 30, 1000))
	ts := newTestStore()
	ts.failSync = func(n int) error {
		if n == 3 { // the second batch's first barrier
			return fmt.Errorf("%w: %w", sdk.ErrUnavailable, errInjected)
		}
		return nil
	}
	failedSessionDeletesNothing(t, rs, ts, "barrier failed", func(sum Summary) bool {
		return sum.Stored == 5 && sum.Failed > 0 // the first batch of 5 stored, the next failed
	}, func() {
		ts.mu.Lock()
		ts.failSync = nil
		ts.mu.Unlock()
	})
}

// failedSessionDeletesNothing runs a deleting sync of rs's 30 messages into
// ts (told to fail with errInjected) in batches of 5: the run must end as a
// store failure with a summary wantSum accepts and nothing deleted on the
// server; after heal, a rerun deletes all 30, none before it was durable,
// and stores each exactly once.
func failedSessionDeletesNothing(t *testing.T, rs *remoteServer, ts *testStore, what string, wantSum func(Summary) bool, heal func()) {
	t.Helper()
	st := syncStore{ts}
	w := watchDeletes(t, rs, st, ts)
	o := testOptions(t, rs, st)
	o.Delete = true
	o.BatchMessages = 5
	sum, err := Run(context.Background(), o)
	wantKind(t, err, KindStore)
	if !errors.Is(err, errInjected) {
		t.Errorf("err = %v", err)
	}
	if len(w.deleted) != 0 {
		t.Errorf("%d messages deleted on the server in a session whose %s", len(w.deleted), what)
	}
	if !wantSum(sum) {
		t.Errorf("summary of the session whose %s: %+v", what, sum)
	}
	heal()
	sum = runOK(t, o)
	if sum.Deleted != 30 {
		t.Errorf("rerun: %+v", sum)
	}
	w.check(t)
	checkExactlyOnce(t, st, rs.addr, wantMap(rs), nil)
}

func TestStopFinishesTheMessage(t *testing.T) {
	rs := startRemote(t, mailgen.Set(9, 60, 4000))
	st := syncStore{newTestStore()}
	o := testOptions(t, rs, st)
	stop := make(chan struct{})
	var once sync.Once
	o.Stop = stop
	o.OnProgress = func(p Progress) {
		if p.Messages == 10 {
			once.Do(func() { close(stop) })
		}
	}
	o.Delete = true
	sum := runOK(t, o)
	if sum.Stored < 10 || sum.Stored >= 60 || sum.Deleted != sum.Stored || sum.Sessions != 1 {
		t.Errorf("stopped run: %+v", sum)
	}
	if left := len(rs.UIDs(testUser)); left != 60-sum.Stored {
		t.Errorf("%d left on the server, want %d", left, 60-sum.Stored)
	}
	o.Stop, o.OnProgress = nil, nil
	runOK(t, o)
	checkExactlyOnce(t, st, rs.addr, wantMap(rs), nil)
}

func TestAuthFailure(t *testing.T) {
	rs := startRemote(t, nil)
	o := testOptions(t, rs, syncStore{newTestStore()})
	o.Account.Secret = "wrong"
	_, err := Run(context.Background(), o)
	wantKind(t, err, KindAuth)
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("the error shows the password: %v", err)
	}
	o.Account.Auth = AuthAPOP
	o.Account.Secret = testPass
	_, err = Run(context.Background(), o)
	wantKind(t, err, KindAuth) // no APOP timestamp: memback has APOP off
}

func TestAPOPIsPreferred(t *testing.T) {
	rs := startRemote(t, mailgen.Set(10, 2, 300))
	rs.SetAPOP(true)
	var dbg bytes.Buffer
	o := testOptions(t, rs, syncStore{newTestStore()})
	o.Debug = &dbg
	runOK(t, o)
	if !strings.Contains(dbg.String(), "C: APOP alice ****") || strings.Contains(dbg.String(), "PASS") {
		t.Errorf("transcript:\n%s", dbg.String())
	}
	if strings.Contains(dbg.String(), testPass) {
		t.Error("the transcript shows the password")
	}
}

func TestInspect(t *testing.T) {
	rs := startRemote(t, mailgen.Set(11, 5, 300))
	st := syncStore{newTestStore()}
	o := testOptions(t, rs, st)
	o.Mode, o.Numbers = ModeRetr, []int{2, 4}
	runOK(t, o)
	md, err := Inspect(context.Background(), o, true)
	if err != nil {
		t.Fatal(err)
	}
	if md.Count != 5 || len(md.Messages) != 5 || !md.HeldKnown {
		t.Fatalf("%+v", md)
	}
	for _, m := range md.Messages {
		if want := m.Num == 2 || m.Num == 4; m.Held != want || m.UIDL != fmt.Sprintf("uidl-%04d", m.Num) {
			t.Errorf("message %+v", m)
		}
	}
	o.Store = nil
	md, err = Inspect(context.Background(), o, false)
	if err != nil || md.Count != 5 || md.Messages != nil {
		t.Errorf("stat: %+v, %v", md, err)
	}
}

func TestSourceIDPrefix(t *testing.T) {
	for _, tc := range []struct{ addr, user, want string }{
		{"pop.example.com:995", "u", "pop3://u@pop.example.com:995/"},
		{"POP.Example.COM:110", "user@domain", "pop3://user%40domain@pop.example.com:110/"},
		{"[::1]:110", "a b", "pop3://a%20b@[::1]:110/"},
	} {
		got, err := (Account{Addr: tc.addr, User: tc.user}).SourceIDPrefix()
		if err != nil || got != tc.want {
			t.Errorf("%s %s: %q, %v; want %q", tc.addr, tc.user, got, err, tc.want)
		}
	}
	if _, err := (Account{Addr: "nohost", User: "u"}).SourceIDPrefix(); err == nil {
		t.Error("address without port accepted")
	}
}
