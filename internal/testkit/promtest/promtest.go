// Package promtest reads a Prometheus /metrics endpoint for tests: it
// fetches the text exposition, parses it with the Prometheus text parser
// (so a malformed exposition fails the test) and looks series up by name
// and labels.
package promtest

import (
	"bytes"
	"io"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Families are the metric families of one scrape, by name.
type Families map[string]*dto.MetricFamily

// Scrape fetches base+"/metrics" and parses it. It returns the families
// and the exposition as served.
func Scrape(tb testing.TB, base string) (Families, []byte) {
	tb.Helper()
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get(base + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s/metrics: %d %v", base, resp.StatusCode, err)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		tb.Fatalf("parsing /metrics: %v\n%s", err, body)
	}
	return fams, body
}

// Value is the value of the first series of family name whose labels
// include labels (name, value pairs), or -1 if there is none. A histogram
// gives its sample count.
func (f Families) Value(name string, labels ...string) float64 {
	fam := f[name]
	if fam == nil {
		return -1
	}
next:
	for _, m := range fam.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.Label {
				found = found || lp.GetName() == labels[i] && lp.GetValue() == labels[i+1]
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// Move is how much a series is expected to change between two scrapes.
type Move struct {
	name   string
	labels []string
	by     float64
}

// Moved is the Move of the series of family name with labels (name, value
// pairs, as for Value) by by.
func Moved(name string, by float64, labels ...string) Move {
	return Move{name: name, labels: labels, by: by}
}

// CheckMoves fails tb for each of moves whose series did not change by By
// from before to after (a series absent before counts from 0).
func CheckMoves(tb testing.TB, before, after Families, moves ...Move) {
	tb.Helper()
	for _, m := range moves {
		if got := after.Value(m.name, m.labels...) - max(before.Value(m.name, m.labels...), 0); got != m.by {
			tb.Errorf("%s%v moved by %v, want %v", m.name, m.labels, got, m.by)
		}
	}
}
