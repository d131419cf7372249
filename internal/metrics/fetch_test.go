package metrics

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/izyware/izypop3/core/fetch"
	"github.com/izyware/izypop3/internal/testkit/promtest"
)

func TestFetchMetrics(t *testing.T) {
	reg := New("v", "c")
	fm := reg.Fetch()
	fm.Account("bob@pop.example:995")
	hs, err := reg.Listen("127.0.0.1:0", nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer hs.Close()
	base := "http://" + hs.Addr().String()
	fams, _ := promtest.Scrape(t, base)
	if v := fams.Value("izypop3_fetch_runs_total", "account", "bob@pop.example:995", "result", "failed"); v != 0 {
		t.Fatalf("runs{failed} before a run = %v, want 0", v)
	}
	fm.Run("bob@pop.example:995", fetch.Summary{Stored: 3, Dup: 1, Failed: 1, Bytes: 1234, Elapsed: time.Second}, nil)
	fm.Run("bob@pop.example:995", fetch.Summary{Stored: 2, Bytes: 100}, errors.New("connection refused"))
	fams, body := promtest.Scrape(t, base)
	for _, w := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"izypop3_fetch_messages_total", []string{"outcome", "stored"}, 5},
		{"izypop3_fetch_messages_total", []string{"outcome", "dup"}, 1},
		{"izypop3_fetch_messages_total", []string{"outcome", "failed"}, 1},
		{"izypop3_fetch_bytes_total", nil, 1334},
		{"izypop3_fetch_runs_total", []string{"result", "ok"}, 1},
		{"izypop3_fetch_runs_total", []string{"result", "failed"}, 1},
		{"izypop3_fetch_run_duration_seconds", nil, 2},
	} {
		if got := fams.Value(w.name, append([]string{"account", "bob@pop.example:995"}, w.labels...)...); got != w.want {
			t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.want)
		}
	}
	if v := fams.Value("izypop3_fetch_last_success_timestamp_seconds"); v < float64(time.Now().Add(-time.Hour).Unix()) {
		t.Errorf("last_success_timestamp = %v", v)
	}
	promtoolCheck(t, body)
}
