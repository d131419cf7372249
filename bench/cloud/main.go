// Command cloud measures the cloud store against a real SeaweedFS on this
// machine (see bench/cloud.sh and docs/performance.md), in one run:
//
//  1. Put rate: -count messages of ~20 KB Put in process, one at a time and
//     -par at a time, into a fresh mailbox.
//  2. RETR throughput: the same messages fetched by a pipelined client
//     (-depth RETRs in flight) from izypop3 serverpop3 --modhandler cloud
//     with the default read-ahead, with mimestore.readahead=1 (one GET at a
//     time), and from --modhandler localfs over the same octets as .eml
//     files; runs alternate between the three servers, the sha256 of every
//     run is checked, the median of -runs is reported with the ratios.
//  3. Login (the maildrop snapshot: PASS and STAT) of a -login message
//     mailbox: objects the store wrote (the listing alone gives every
//     size) and objects planted by another writer, as an SES receipt rule
//     does (each read once per store process): the first login of a freshly
//     started server and the logins after it; localfs over the same count
//     for comparison.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/izyware/izypop3/bench/internal/izyserver"
	"github.com/izyware/izypop3/bench/internal/popconn"
	"github.com/izyware/izypop3/internal/mailgen"
	"github.com/izyware/izypop3/internal/s3test"
	"github.com/izyware/izypop3/internal/testkit"
	"github.com/izyware/izypop3/plugins/cloud/cloudstore"
	"github.com/izyware/izypop3/sdk"
)

const (
	password = "12345"
	retrUser = "bench"
)

var (
	binDir     = flag.String("bin", "bin", "directory with izypop3, izypop3-store-cloud and izypop3-store-localfs")
	count      = flag.Int("count", 2000, "messages in the RETR maildrop")
	minSize    = flag.Int("minsize", 18000, "smallest message (octets)")
	maxSize    = flag.Int("maxsize", 22000, "largest message (octets)")
	runs       = flag.Int("runs", 3, "runs per server (median reported)")
	depth      = flag.Int("depth", 50, "RETRs the pipelined client keeps in flight")
	par        = flag.Int("par", 8, "Puts in flight for the parallel Put rate")
	loginCount = flag.Int("login", 10000, "messages in the login mailbox (0 skips)")
	logins     = flag.Int("logins", 3, "logins after the first, per server start")
	starts     = flag.Int("starts", 3, "server starts per login case (median of the first logins)")
	weedPath   = flag.String("weed", "", "weed binary (default: $IZYPOP3_WEED or what .ci/seaweedfs.sh --check reports)")
	skipRetr   = flag.Bool("no-retr", false, "skip the Put and RETR measurements")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/cloud:", err)
		os.Exit(1)
	}
}

func load() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func run() error {
	ctx := context.Background()
	weed := *weedPath
	if weed == "" {
		var err error
		if weed, err = s3test.WeedBinary(); err != nil {
			return err
		}
	}
	fmt.Printf("load average at start: %s\n", load())
	sw, err := s3test.LaunchSeaweed(weed)
	if sw != nil {
		defer sw.Close()
	}
	if err != nil {
		if sw != nil {
			fmt.Fprintf(os.Stderr, "--- weed log ---\n%s\n", sw.LogTail(4096))
		}
		return err
	}
	fmt.Printf("SeaweedFS %s at %s (weed server -s3, one process)\n", weed, sw.Endpoint)
	if !*skipRetr {
		if err := retrBench(ctx, sw.Server); err != nil {
			return err
		}
	}
	if *loginCount > 0 {
		if err := loginBench(ctx, sw.Server); err != nil {
			return err
		}
	}
	fmt.Printf("load average at end: %s\n", load())
	return nil
}

// ---- messages ----

func openStore(ctx context.Context, srv *s3test.Server, prefix string, extra map[string]string) (*cloudstore.Store, error) {
	st := cloudstore.New(nil)
	cfg := srv.Config(prefix)
	for k, v := range extra {
		cfg[k] = v
	}
	if err := st.Configure(ctx, cfg); err != nil {
		return nil, err
	}
	return st, nil
}

// putAll Puts msgs into mailbox with n Puts in flight and returns the
// elapsed time.
func putAll(ctx context.Context, st sdk.Store, mailbox string, msgs [][]byte, n int) (time.Duration, error) {
	return inFlight(len(msgs), n, func(i int) error {
		_, err := st.Put(ctx, mailbox, sdk.PutOptions{}, bytes.NewReader(msgs[i]))
		return err
	})
}

// inFlight runs do(0) to do(count-1), n at a time, and returns the elapsed
// time and the first error (after which the calls not yet begun are
// skipped).
func inFlight(count, n int, do func(i int) error) (time.Duration, error) {
	work := make(chan int)
	errc := make(chan error, n)
	var wg sync.WaitGroup
	t0 := time.Now()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if err := do(i); err != nil {
					errc <- err
					for range work {
					}
					return
				}
			}
		}()
	}
	for i := range count {
		work <- i
	}
	close(work)
	wg.Wait()
	d := time.Since(t0)
	select {
	case err := <-errc:
		return d, err
	default:
		return d, nil
	}
}

// ---- servers ----

func cloudArgs(srv *s3test.Server, prefix string, extra ...string) []string {
	cfg := srv.Config(prefix)
	return append([]string{"--modhandler", "cloud", "--mimestore.dataservice", cfg["dataservice"],
		"--mimestore.tablename", cfg["tablename"], "--mimestore.accesstoken", cfg["accesstoken"]}, extra...)
}

func writeEML(dir string, msgs [][]byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for i, m := range msgs {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("msg%06d.eml", i+1)), m, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// ---- Put and RETR ----

func retrBench(ctx context.Context, srv *s3test.Server) error {
	msgs, err := izyserver.FakeMessages(ctx, retrUser, *count, *minSize, *maxSize, 1)
	if err != nil {
		return err
	}
	var total int64
	var sums [][]byte
	for _, m := range msgs {
		w := testkit.WireForm(m)
		total += int64(len(w))
		h := sha256.Sum256(w)
		sums = append(sums, h[:])
	}
	wantSum := setDigest(sums)
	fmt.Printf("\n== Put: %d messages, %.1f MB (fake store, seed 1, %d..%d octets), in process\n", len(msgs), float64(total)/1e6, *minSize, *maxSize)
	st, err := openStore(ctx, srv, "retr", nil)
	if err != nil {
		return err
	}
	defer st.Close()
	d, err := putAll(ctx, st, retrUser, msgs, 1)
	if err != nil {
		return err
	}
	fmt.Printf("Put, one at a time:   %6.0f msgs/s  %5.1f MB/s  (%v for %d; load %s)\n", float64(len(msgs))/d.Seconds(), float64(total)/1e6/d.Seconds(), d.Round(time.Millisecond), len(msgs), load())
	// The parallel rate into a mailbox of its own (so the RETR mailbox
	// holds each message once).
	d, err = putAll(ctx, st, "putpar", msgs, *par)
	if err != nil {
		return err
	}
	fmt.Printf("Put, %d in flight:     %6.0f msgs/s  %5.1f MB/s  (%v for %d; load %s)\n", *par, float64(len(msgs))/d.Seconds(), float64(total)/1e6/d.Seconds(), d.Round(time.Millisecond), len(msgs), load())

	// The backend's own ceiling: GETs of the RETR mailbox's objects with
	// the S3 client, no izypop3 in the way.
	for _, n := range []int{1, cloudstore.DefaultReadAhead} {
		d, octets, err := rawGets(ctx, srv, "retr/"+retrUser+"/", n)
		if err != nil {
			return err
		}
		fmt.Printf("raw GET, %d in flight:  %6.0f msgs/s  %5.1f MB/s  (%v for %d; load %s)\n", n, float64(len(msgs))/d.Seconds(), float64(octets)/1e6/d.Seconds(), d.Round(time.Millisecond), len(msgs), load())
	}

	root, err := os.MkdirTemp("", "izypop3-bench-cloud-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	if err := writeEML(filepath.Join(root, retrUser), msgs); err != nil {
		return err
	}
	type server struct {
		name string
		p    *izyserver.Server
		secs []float64
	}
	var servers []*server
	for _, c := range []struct {
		name string
		args []string
	}{
		{"localfs", []string{"--modhandler", "localfs", "--mimestore.path", root}},
		{fmt.Sprintf("cloud, readahead %d (default)", cloudstore.DefaultReadAhead), cloudArgs(srv, "retr")},
		{"cloud, readahead 1", cloudArgs(srv, "retr", "--mimestore.readahead", "1")},
	} {
		p, err := izyserver.Start(*binDir, password, c.args...)
		if err != nil {
			return err
		}
		defer p.Stop()
		servers = append(servers, &server{name: c.name, p: p})
	}
	fmt.Printf("\n== RETR: %d messages, %.1f MB as sent, pipelined client (%d RETRs in flight), %d runs alternating\n", len(msgs), float64(total)/1e6, *depth, *runs)
	for r := range *runs {
		for _, s := range servers {
			res, err := pipeClient(s.p.Port, retrUser, *depth)
			if err != nil {
				return fmt.Errorf("%s: %w\n%s", s.name, err, s.p.Log())
			}
			if res.SHA256 != wantSum || res.Messages != len(msgs) {
				return fmt.Errorf("%s run %d: served %d messages, digest %s, want %d, %s", s.name, r+1, res.Messages, res.SHA256, len(msgs), wantSum)
			}
			s.secs = append(s.secs, res.Seconds)
			fmt.Printf("  run %d %-28s %7.1f MB/s  %6.0f msgs/s  (load %s)\n", r+1, s.name, float64(total)/1e6/res.Seconds, float64(len(msgs))/res.Seconds, load())
		}
	}
	base := median(servers[0].secs)
	fmt.Printf("\n%-30s %10s %10s %12s\n", "server", "MB/s", "msgs/s", "vs localfs")
	for _, s := range servers {
		m := median(s.secs)
		lo, hi := minMax(s.secs)
		fmt.Printf("%-30s %10.1f %10.0f %11.0f%%   (runs %.1f–%.1f MB/s)\n", s.name, float64(total)/1e6/m, float64(len(msgs))/m, 100*base/m,
			float64(total)/1e6/hi, float64(total)/1e6/lo)
	}
	return nil
}

// rawGets lists prefix (one level) and GETs every object with n in
// flight, returning the time of the GETs and the octets read.
func rawGets(ctx context.Context, srv *s3test.Server, prefix string, n int) (time.Duration, int64, error) {
	c := srv.Client()
	var keys []string
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(srv.Bucket), Prefix: aws.String(prefix), Delimiter: aws.String("/")})
	for p.HasMorePages() {
		pg, err := p.NextPage(ctx)
		if err != nil {
			return 0, 0, err
		}
		for _, o := range pg.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	var total atomic.Int64
	d, err := inFlight(len(keys), n, func(i int) error {
		o, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String(keys[i])})
		if err != nil {
			return err
		}
		defer o.Body.Close()
		m, err := io.Copy(io.Discard, o.Body)
		total.Add(m)
		return err
	})
	return d, total.Load(), err
}

// ---- login ----

func loginBench(ctx context.Context, srv *s3test.Server) error {
	n := *loginCount
	msgs := mailgen.Set(5, n, 2000)
	fmt.Printf("\n== Login (PASS + STAT) of a %d-message mailbox (~2 KB each)\n", n)
	// Objects the store wrote: names carry the wire size.
	st, err := openStore(ctx, srv, "login", nil)
	if err != nil {
		return err
	}
	d, err := putAll(ctx, st, "own", msgs, 16)
	st.Close()
	if err != nil {
		return err
	}
	fmt.Printf("planted %d objects with Put (16 in flight) in %v\n", n, d.Round(time.Millisecond))
	// Objects another writer planted (SES-style names).
	t0 := time.Now()
	if err := plantRaw(ctx, srv, "login/ses/", msgs); err != nil {
		return err
	}
	fmt.Printf("planted %d objects with PutObject (16 in flight) in %v\n", n, time.Since(t0).Round(time.Millisecond))
	root, err := os.MkdirTemp("", "izypop3-bench-cloud-login-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	if err := writeEML(filepath.Join(root, "own"), msgs); err != nil {
		return err
	}
	fmt.Printf("\n%-44s %14s %14s\n", "mailbox", "first login", "later logins")
	for _, c := range []struct {
		name, user string
		args       []string
	}{
		{"cloud, objects written by the store", "own", cloudArgs(srv, "login")},
		{"cloud, objects written by another (SES)", "ses", cloudArgs(srv, "login")},
		{"localfs, .eml files", "own", []string{"--modhandler", "localfs", "--mimestore.path", root}},
	} {
		var first, later []float64
		for range *starts {
			p, err := izyserver.Start(*binDir, password, c.args...)
			if err != nil {
				return err
			}
			for i := range 1 + *logins {
				secs, got, err := loginTime(p.Port, c.user)
				if err != nil {
					p.Stop()
					return fmt.Errorf("%s: %w\n%s", c.name, err, p.Log())
				}
				if got != n {
					p.Stop()
					return fmt.Errorf("%s: STAT says %d messages, want %d", c.name, got, n)
				}
				if i == 0 {
					first = append(first, secs)
				} else {
					later = append(later, secs)
				}
			}
			p.Stop()
		}
		flo, fhi := minMax(first)
		llo, lhi := minMax(later)
		fmt.Printf("%-44s %9.0f ms    %9.0f ms    (first %.0f–%.0f, later %.0f–%.0f ms; load %s)\n", c.name, 1000*median(first), 1000*median(later),
			1000*flo, 1000*fhi, 1000*llo, 1000*lhi, load())
	}
	return nil
}

// plantRaw writes msgs as objects prefix+<SES-like id> with 16 PUTs in
// flight, as a receipt rule would.
func plantRaw(ctx context.Context, srv *s3test.Server, prefix string, msgs [][]byte) error {
	c := srv.Client()
	_, err := inFlight(len(msgs), 16, func(i int) error {
		key := fmt.Sprintf("%s%016x-1a2b3c4d-5e6f-7a8b-9c0d-e1f2a3b4c5d6-000000", prefix, i)
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String(key), Body: bytes.NewReader(msgs[i])})
		return err
	})
	return err
}

// loginTime connects, then times USER, PASS and STAT (the maildrop
// snapshot is taken at PASS), and QUITs.
func loginTime(port int, user string) (float64, int, error) {
	p, err := popconn.Dial(testkit.Addr(port))
	if err != nil {
		return 0, 0, err
	}
	defer p.Close()
	t0 := time.Now()
	if err := p.Login(user, password); err != nil {
		return 0, 0, err
	}
	n, err := p.Stat()
	if err != nil {
		return 0, 0, err
	}
	secs := time.Since(t0).Seconds()
	if _, err := p.Cmd("QUIT"); err != nil {
		return 0, 0, err
	}
	return secs, n, nil
}

type result struct {
	Messages int
	Octets   int64
	Seconds  float64
	SHA256   string
}

// pipeClient retrieves every message with depth RETRs sent ahead of the
// reply being read (a sliding window), from the first RETR to the last
// reply.
func pipeClient(port int, user string, depth int) (result, error) {
	r, err := popconn.RetrieveAll(testkit.Addr(port), user, password, depth)
	if err != nil {
		return result{}, err
	}
	return result{Messages: len(r.Sums), Octets: r.Octets, Seconds: r.Seconds, SHA256: setDigest(r.Sums)}, nil
}

// setDigest is the sha256 of the messages' sha256s in order.
func setDigest(sums [][]byte) string {
	h := sha256.New()
	for _, s := range sums {
		h.Write(s)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func minMax(v []float64) (float64, float64) {
	if len(v) == 0 {
		return 0, 0
	}
	lo, hi := v[0], v[0]
	for _, x := range v {
		lo, hi = min(lo, x), max(hi, x)
	}
	return lo, hi
}
