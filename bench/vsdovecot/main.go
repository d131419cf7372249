// Command vsdovecot compares izypop3 serverpop3 with Dovecot 2.3 on the same
// machine, in one run (see bench/vs-dovecot.sh and docs/performance.md):
//
//  1. RETR throughput: the same N messages (made once by the fake store,
//     in-process) served by Dovecot from a maildir and by izypop3 from the
//     fake store (same seed: same octets, checked by sha256), fetched one
//     RETR at a time by three clients — Python poplib, curl (one process, one
//     connection, one URL per message) and a plain Go client — and by a
//     raw-socket client that pipelines (-depth RETRs sent before their
//     replies are read). Runs alternate between the servers; the median of
//     -runs is reported, and the ratio.
//  2. One big message (default 50 MiB) through izypop3: peak RSS (VmHWM) of
//     izypop3 and of its store plugin.
//  3. Many idle logged-in sessions (default 1000): errors, and RSS per
//     session of izypop3 + plugin.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/izyware/izypop3/bench/internal/izyserver"
	"github.com/izyware/izypop3/bench/internal/popconn"
	"github.com/izyware/izypop3/internal/testkit"
	"github.com/izyware/izypop3/test/interop/dovecottest"
)

// Limits of the benchmark itself.
const (
	// connectBatch is how many idle sessions are opened at once.
	connectBatch = 50
	// rssSettle is the pause before RSS is read, so that freed memory and
	// goroutines settle.
	rssSettle = 2 * time.Second
	// password is what both servers accept for any user.
	password = "12345"
	// benchUser is the mailbox the throughput runs use.
	benchUser = "bench"
)

var (
	binDir      = flag.String("bin", "bin", "directory with izypop3 and izypop3-store-fake")
	count       = flag.Int("count", 2000, "messages in the throughput maildrop")
	minSize     = flag.Int("minsize", 18000, "smallest message (octets)")
	maxSize     = flag.Int("maxsize", 22000, "largest message (octets)")
	seed        = flag.Int("seed", 1, "fake store seed")
	runs        = flag.Int("runs", 3, "runs per server and client (median reported)")
	clients     = flag.String("clients", "poplib,curl,go,pipe", "throughput clients to use (pipe: pipelined raw-socket client)")
	depth       = flag.Int("depth", 50, "RETRs the pipe client keeps in flight")
	bigSize     = flag.Int64("big", 50<<20, "size of the big message (0 skips)")
	idle        = flag.Int("idle", 1000, "idle logged-in sessions (0 skips)")
	scripts     = flag.String("scripts", "bench", "directory holding pop3_retr_all.py")
	lfFiles     = flag.Bool("lf", false, "write Dovecot's maildir files with LF line ends (default: the fake store's octets as they are, CRLF)")
	skipDove    = flag.Bool("no-dovecot", false, "measure izypop3 only")
	skipIzy     = flag.Bool("no-izypop3", false, "measure Dovecot only")
	withFake    = flag.Bool("fake", true, "measure izypop3 with the fake store")
	withLocalfs = flag.Bool("localfs", true, "also measure izypop3 with the localfs store over the same octets as .eml files")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "vsdovecot:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx := context.Background()
	abs, err := filepath.Abs(*binDir)
	if err != nil {
		return err
	}
	*binDir = abs

	if *count > 0 {
		if err := throughput(ctx); err != nil {
			return err
		}
	}
	if *bigSize > 0 {
		if err := bigMessage(ctx); err != nil {
			return err
		}
	}
	if *idle > 0 {
		if err := idleSessions(ctx); err != nil {
			return err
		}
	}
	return nil
}

// ---- throughput ----

type result struct {
	Messages int     `json:"messages"`
	Octets   int64   `json:"octets"`
	Seconds  float64 `json:"seconds"`
	SHA256   string  `json:"sha256"`
	// ServerCPU is the CPU time (user+system, s) the server's processes
	// used during the run: robust against a busy machine, unlike wall time.
	ServerCPU float64 `json:"-"`
}

func (r result) mbps() float64 { return float64(r.Octets) / 1e6 / r.Seconds }

func throughput(ctx context.Context) error {
	msgs, err := izyserver.FakeMessages(ctx, benchUser, *count, *minSize, *maxSize, *seed)
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
	fmt.Printf("== RETR throughput: %d messages, %.1f MB as sent (fake store, seed %d, %d..%d octets)\n",
		len(msgs), float64(total)/1e6, *seed, *minSize, *maxSize)

	servers := map[string]int{}
	cpuFns := map[string]func() float64{} // CPU seconds used by a server's processes so far
	var dov *dovecottest.Server
	if !*skipDove {
		dov, err = dovecottest.Start(dovecottest.Options{Password: password})
		if err != nil {
			return err
		}
		defer dov.Stop()
		for i, m := range msgs {
			if *lfFiles {
				m = bytes.ReplaceAll(m, []byte("\r\n"), []byte("\n"))
			}
			// cur/ with the ,S= size so Dovecot need not move or stat them.
			name := fmt.Sprintf("1700000000.M%dP1.bench,S=%d:2,", i, len(m))
			if err := dov.WriteMaildir(benchUser, name, m); err != nil {
				return err
			}
		}
		// WriteMaildir puts files in new/; move them to cur/ as a delivered
		// and seen maildir would have them.
		md := dov.Maildir(benchUser)
		ents, _ := os.ReadDir(filepath.Join(md, "new"))
		for _, e := range ents {
			if err := os.Rename(filepath.Join(md, "new", e.Name()), filepath.Join(md, "cur", e.Name())); err != nil {
				return err
			}
		}
		servers["dovecot"] = dov.Port
		cpuFns["dovecot"] = func() float64 { return cpuSum(groupOf(dov.PID())) }
	}
	var names []string
	if dov != nil {
		names = append(names, "dovecot")
	}
	if !*skipIzy && *withFake {
		izy, err := izyserver.Start(*binDir, password, "--modhandler", "fake", fmt.Sprintf("--mimestore.count=%d", *count), fmt.Sprintf("--mimestore.minsize=%d", *minSize),
			fmt.Sprintf("--mimestore.maxsize=%d", *maxSize), fmt.Sprintf("--mimestore.seed=%d", *seed))
		if err != nil {
			return err
		}
		defer izy.Stop()
		servers["izy-fake"] = izy.Port
		cpuFns["izy-fake"] = izyCPU(izy.Cmd.Process.Pid)
		names = append(names, "izy-fake")
	}
	if !*skipIzy && *withLocalfs {
		// The same octets as .eml files, served by the localfs store.
		dir, err := os.MkdirTemp("", "izybench-localfs-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if err := os.Mkdir(filepath.Join(dir, benchUser), 0o700); err != nil {
			return err
		}
		for i, m := range msgs {
			if err := os.WriteFile(filepath.Join(dir, benchUser, fmt.Sprintf("m%05d.eml", i)), m, 0o600); err != nil {
				return err
			}
		}
		izy, err := izyserver.Start(*binDir, password, "--modhandler", "localfs", "--mimestore.path", dir)
		if err != nil {
			return err
		}
		defer izy.Stop()
		servers["izy-localfs"] = izy.Port
		cpuFns["izy-localfs"] = izyCPU(izy.Cmd.Process.Pid)
		names = append(names, "izy-localfs")
	}
	// Warm-up, not measured: Dovecot builds its index, izypop3 its plugin
	// and the page cache holds the files. It also checks the octets.
	for _, s := range names {
		r, err := goClient(servers[s], benchUser)
		if err != nil {
			return fmt.Errorf("%s warm-up: %w", s, err)
		}
		if r.SHA256 != wantSum || r.Messages != len(msgs) {
			return fmt.Errorf("%s served other octets than the fake store's: %d messages, sha256 %s, want %d, %s",
				s, r.Messages, r.SHA256, len(msgs), wantSum)
		}
	}
	fmt.Printf("   %s all served the same %d messages (set digest %s…)\n", strings.Join(names, ", "), len(msgs), wantSum[:16])

	type key struct{ client, server string }
	results := map[key][]result{}
	for _, cl := range strings.Split(*clients, ",") {
		for i := 0; i < *runs; i++ {
			for _, s := range names {
				var r result
				var err error
				cpu0 := cpuFns[s]()
				switch cl {
				case "poplib":
					r, err = poplibClient(servers[s], benchUser)
				case "curl":
					r, err = curlClient(servers[s], benchUser, len(msgs), total)
				case "go":
					r, err = goClient(servers[s], benchUser)
				case "pipe":
					r, err = pipeClient(servers[s], benchUser, *depth)
				default:
					return fmt.Errorf("unknown client %q", cl)
				}
				if err != nil {
					return fmt.Errorf("%s via %s: %w", s, cl, err)
				}
				if r.Octets != total {
					return fmt.Errorf("%s via %s: %d octets, want %d", s, cl, r.Octets, total)
				}
				r.ServerCPU = cpuFns[s]() - cpu0
				results[key{cl, s}] = append(results[key{cl, s}], r)
				fmt.Printf("   run %d %-7s %-11s %7.3f s %7.1f MB/s   server CPU %4.0f µs/msg\n", i+1, cl, s, r.Seconds, r.mbps(), r.ServerCPU*1e6/float64(r.Messages))
			}
		}
	}
	fmt.Printf("\n   %-7s %-11s %10s %9s %16s   (median of %d)\n", "client", "server", "seconds", "MB/s", "server CPU/msg", *runs)
	for _, cl := range strings.Split(*clients, ",") {
		med := map[string]float64{}
		for _, s := range names {
			rs := results[key{cl, s}]
			secs := make([]float64, len(rs))
			cpus := make([]float64, len(rs))
			for i, r := range rs {
				secs[i] = r.Seconds
				cpus[i] = r.ServerCPU
			}
			med[s] = median(secs)
			fmt.Printf("   %-7s %-11s %10.3f %9.1f %13.0f µs\n", cl, s, med[s], float64(total)/1e6/med[s], median(cpus)*1e6/float64(len(msgs)))
		}
		if dov != nil {
			for _, s := range names[1:] {
				fmt.Printf("   %-7s %s/dovecot throughput ratio: %.2f\n", cl, s, med["dovecot"]/med[s])
			}
		}
	}
	fmt.Println()
	return nil
}

// setDigest is the SHA-256 of the sorted per-message SHA-256s: equal for
// two maildrops holding the same messages in any order.
func setDigest(sums [][]byte) string {
	s := append([][]byte(nil), sums...)
	sort.Slice(s, func(i, j int) bool { return bytes.Compare(s[i], s[j]) < 0 })
	h := sha256.New()
	for _, x := range s {
		h.Write(x)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func poplibClient(port int, user string) (result, error) {
	cmd := exec.Command("python3", filepath.Join(*scripts, "pop3_retr_all.py"), "--port", strconv.Itoa(port),
		"--user", user, "--password", password)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return result{}, fmt.Errorf("%v: %s", err, stderr.String())
	}
	var r result
	if err := json.Unmarshal(out, &r); err != nil {
		return result{}, fmt.Errorf("%v: %s", err, out)
	}
	return r, nil
}

// curlClient fetches every message with one curl process (one connection
// reused, one RETR per URL), each into its own file in a temporary
// directory (curl's size_download is not reliable for pop3:// here); the
// time includes curl's start and login (a few ms).
func curlClient(port int, user string, n int, total int64) (result, error) {
	dir, err := os.MkdirTemp("", "izy-curl-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "user = \"%s:%s\"\nsilent\nshow-error\n", user, password)
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&cfg, "url = \"pop3://127.0.0.1:%d/%d\"\noutput = \"%s/%d\"\n", port, i, dir, i)
	}
	cfgPath := filepath.Join(dir, "curl.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o600); err != nil {
		return result{}, err
	}
	cmd := exec.Command("curl", "-K", cfgPath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	t0 := time.Now()
	err = cmd.Run()
	secs := time.Since(t0).Seconds()
	if err != nil {
		return result{}, fmt.Errorf("curl: %v: %s", err, stderr.String())
	}
	var octets int64
	for i := 1; i <= n; i++ {
		fi, err := os.Stat(filepath.Join(dir, strconv.Itoa(i)))
		if err != nil {
			return result{}, fmt.Errorf("curl: message %d: %w", i, err)
		}
		octets += fi.Size()
	}
	return result{Messages: n, Octets: octets, Seconds: secs}, nil
}

func goClient(port int, user string) (result, error) {
	p, n, err := popconn.Open(fmt.Sprintf("127.0.0.1:%d", port), user, password)
	if err != nil {
		return result{}, err
	}
	defer p.Close()
	var sums [][]byte
	var octets int64
	t0 := time.Now()
	for i := 1; i <= n; i++ {
		if _, err := p.Cmd("RETR %d", i); err != nil {
			return result{}, err
		}
		h := sha256.New()
		k, err := p.Multi(h)
		if err != nil {
			return result{}, err
		}
		sums = append(sums, h.Sum(nil))
		octets += k
	}
	secs := time.Since(t0).Seconds()
	p.Cmd("QUIT")
	return result{Messages: n, Octets: octets, Seconds: secs, SHA256: setDigest(sums)}, nil
}

// pipeClient retrieves every message like goClient, but pipelined
// (RFC 2449 PIPELINING): it keeps depth RETRs sent ahead of the reply
// being read, a sliding window — the first depth commands go in one write,
// then one more as each reply ends — so the server always has the next
// commands waiting and never waits for the client's round trip.
func pipeClient(port int, user string, depth int) (result, error) {
	r, err := popconn.RetrieveAll(fmt.Sprintf("127.0.0.1:%d", port), user, password, depth)
	if err != nil {
		return result{}, err
	}
	return result{Messages: len(r.Sums), Octets: r.Octets, Seconds: r.Seconds, SHA256: setDigest(r.Sums)}, nil
}

// ---- memory ----

// memOf returns VmRSS and VmHWM (KiB) of a process.
func memOf(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			rss, _ = strconv.ParseInt(f[1], 10, 64)
		case "VmHWM:":
			hwm, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	return rss, hwm, nil
}

// procMem is the memory of izypop3 and its plugin processes.
type procMem struct{ izyRSS, izyHWM, plugRSS, plugHWM int64 }

func (m procMem) rss() int64 { return m.izyRSS + m.plugRSS }

func memTree(pid int) (procMem, error) {
	var m procMem
	var err error
	if m.izyRSS, m.izyHWM, err = memOf(pid); err != nil {
		return m, err
	}
	for _, k := range testkit.Children(pid) {
		r, h, err := memOf(k)
		if err != nil {
			continue
		}
		m.plugRSS += r
		m.plugHWM += h
	}
	return m, nil
}

func bigMessage(ctx context.Context) error {
	fmt.Printf("== one %d-octet message through izypop3 (fake store, count=1)\n", *bigSize)
	izy, err := izyserver.Start(*binDir, password, "--modhandler", "fake", "--mimestore.count=1", fmt.Sprintf("--mimestore.minsize=%d", *bigSize),
		fmt.Sprintf("--mimestore.maxsize=%d", *bigSize), "--mimestore.seed=1")
	if err != nil {
		return err
	}
	defer izy.Stop()
	before, _ := memTree(izy.Cmd.Process.Pid)
	// Sample VmRSS while the message streams (VmHWM gives the peak anyway).
	stop := make(chan struct{})
	var peak procMem
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			if m, err := memTree(izy.Cmd.Process.Pid); err == nil && m.rss() > peak.rss() {
				peak = m
			}
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	r, err := goClient(izy.Port, benchUser)
	close(stop)
	wg.Wait()
	if err != nil {
		return err
	}
	after, err := memTree(izy.Cmd.Process.Pid)
	if err != nil {
		return err
	}
	fmt.Printf("   RETR of %d octets in %.2f s (%.0f MB/s)\n", r.Octets, r.Seconds, r.mbps())
	fmt.Printf("   before: izypop3 RSS %s, plugin RSS %s\n", kib(before.izyRSS), kib(before.plugRSS))
	fmt.Printf("   sampled peak RSS: izypop3 %s + plugin %s = %s\n", kib(peak.izyRSS), kib(peak.plugRSS), kib(peak.rss()))
	fmt.Printf("   VmHWM (peak since start): izypop3 %s, plugin %s, sum %s (target ≤ 64 MiB each)\n\n",
		kib(after.izyHWM), kib(after.plugHWM), kib(after.izyHWM+after.plugHWM))
	return nil
}

func kib(k int64) string { return fmt.Sprintf("%.1f MiB", float64(k)/1024) }

// cpuOf returns the CPU seconds (user+system, with reaped children) a
// process has used.
func cpuOf(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 15 {
		return 0
	}
	var t float64
	for _, k := range []int{11, 12, 13, 14} { // utime stime cutime cstime
		v, _ := strconv.ParseFloat(f[k], 64)
		t += v
	}
	return t / clockTicks
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times (100 on Linux).
const clockTicks = 100

func cpuSum(pids []int) float64 {
	var t float64
	for _, p := range pids {
		t += cpuOf(p)
	}
	return t
}

// izyCPU measures izypop3 and its plugin processes.
func izyCPU(pid int) func() float64 {
	return func() float64 { return cpuSum(append([]int{pid}, testkit.Children(pid)...)) }
}

// pssOf returns the proportional set size (KiB) of a process: shared
// pages divided among the processes sharing them, the fair figure for a
// server made of many processes.
func pssOf(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == "Pss:" {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v
		}
	}
	return 0
}

// groupOf lists the processes of process group pgid.
func groupOf(pgid int) []int {
	var pids []int
	want := strconv.Itoa(pgid)
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		k, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", k))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...: comm may hold spaces, so cut at ')'.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 2 && f[2] == want {
			pids = append(pids, k)
		}
	}
	return pids
}

// memSum is the summed RSS and PSS (KiB) of a set of processes.
type memSum struct {
	rss, pss int64
	procs    int
}

func sumMem(pids []int) memSum {
	var m memSum
	for _, p := range pids {
		r, _, err := memOf(p)
		if err != nil {
			continue
		}
		m.rss += r
		m.pss += pssOf(p)
		m.procs++
	}
	return m
}

// holdSessions opens n logged-in sessions (each its own mailbox, STAT
// answered), measures memory with mem before and while they are open, then
// QUITs them all.
func holdSessions(port, n int, login bool, mem func() memSum, onLoaded func()) (base, loaded memSum, loginErrs, quitErrs int, first error, opened time.Duration) {
	conns := make([]*popconn.Conn, n)
	errs := make([]error, n)
	base = mem()
	t0 := time.Now()
	for start := 0; start < n; start += connectBatch {
		var wg sync.WaitGroup
		for i := start; i < min(start+connectBatch, n); i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				p, err := popconn.Dial(fmt.Sprintf("127.0.0.1:%d", port))
				if err != nil {
					errs[i] = err
					return
				}
				if !login {
					conns[i] = p
					return
				}
				// Each session its own mailbox: no IN-USE between them.
				if err := p.Login(fmt.Sprintf("idle%04d", i), password); err != nil {
					p.Close()
					errs[i] = err
					return
				}
				if _, err := p.Cmd("STAT"); err != nil {
					p.Close()
					errs[i] = err
					return
				}
				conns[i] = p
			}(i)
		}
		wg.Wait()
	}
	opened = time.Since(t0)
	time.Sleep(rssSettle)
	loaded = mem()
	if onLoaded != nil {
		onLoaded()
	}
	for _, e := range errs {
		if e != nil {
			loginErrs++
			if first == nil {
				first = e
			}
		}
	}
	for _, p := range conns {
		if p == nil {
			continue
		}
		if _, err := p.Cmd("QUIT"); err != nil {
			quitErrs++
		}
		p.Close()
	}
	return
}

func idleSessions(ctx context.Context) error {
	fmt.Printf("== %d idle sessions\n", *idle)
	bad := 0
	if !*skipIzy {
		n, err := idleIzypop3()
		if err != nil {
			return err
		}
		bad = n
	}

	if !*skipDove {
		// Dovecot for scale: one pop3 process per session; limits raised
		// so that n sessions fit.
		dov, err := dovecottest.Start(dovecottest.Options{Password: password, Extra: fmt.Sprintf(
			"default_process_limit = %d\ndefault_client_limit = %d\nservice anvil {\n  client_limit = %d\n}\nmail_max_userip_connections = %d\n",
			*idle+100, 4*(*idle)+100, 4*(*idle)+100, *idle+10)})
		if err != nil {
			return err
		}
		defer dov.Stop()
		if _, err := goClient(dov.Port, "warmup"); err != nil {
			return err
		}
		time.Sleep(rssSettle)
		dovMem := func() memSum { return sumMem(groupOf(dov.PID())) }
		base, loaded, lerr, qerr, first, opened := holdSessions(dov.Port, *idle, true, dovMem, nil)
		fmt.Printf("   dovecot (empty maildirs): opened in %.2f s; login errors %d, QUIT errors %d; processes %d -> %d\n",
			opened.Seconds(), lerr, qerr, base.procs, loaded.procs)
		if first != nil {
			fmt.Printf("   first error: %v\n", first)
		}
		fmt.Printf("   dovecot all processes: RSS idle %s, with %d sessions %s -> %.1f KiB per session; PSS %.1f KiB per session\n",
			kib(base.rss), *idle, kib(loaded.rss), float64(loaded.rss-base.rss)/float64(*idle), float64(loaded.pss-base.pss)/float64(*idle))
	}
	fmt.Println()
	if bad > 0 {
		return errors.New("izypop3 idle sessions had errors")
	}
	return nil
}

// idleIzypop3 is the izypop3 half of idleSessions; it returns the number of
// failed sessions.
func idleIzypop3() (int, error) {
	// Limits raised so that n sessions from this one address fit, as they
	// are for Dovecot.
	izy, err := izyserver.Start(*binDir, password, "--modhandler", "fake",
		"--max-conns", strconv.Itoa(*idle+10), "--max-conns-per-addr", strconv.Itoa(*idle+10))
	if err != nil {
		return 0, err
	}
	defer izy.Stop()
	pid := izy.Cmd.Process.Pid
	// One full session first, so that the plugin and the code paths are warm.
	if _, err := goClient(izy.Port, "warmup"); err != nil {
		return 0, err
	}
	time.Sleep(rssSettle)
	izyMem := func() memSum { return sumMem(append([]int{pid}, testkit.Children(pid)...)) }
	bad := 0
	for _, login := range []bool{false, true} {
		what := "connected (greeting read, no login)"
		if login {
			what = "logged in (USER, PASS, STAT; fake store: 99 messages, a new mailbox each)"
		}
		time.Sleep(rssSettle)
		before, _ := memTree(pid)
		var during procMem
		base, loaded, lerr, qerr, first, opened := holdSessions(izy.Port, *idle, login, izyMem, func() { during, _ = memTree(pid) })
		fmt.Printf("   izypop3, %d sessions %s: opened in %.2f s; errors %d, QUIT errors %d\n",
			*idle, what, opened.Seconds(), lerr, qerr)
		if first != nil {
			fmt.Printf("   first error: %v\n", first)
		}
		fmt.Printf("     RSS izypop3+plugin %s -> %s: %.1f KiB per session (izypop3 %.1f, plugin %.1f; target <= 100 KiB)\n",
			kib(base.rss), kib(loaded.rss), float64(loaded.rss-base.rss)/float64(*idle),
			float64(during.izyRSS-before.izyRSS)/float64(*idle), float64(during.plugRSS-before.plugRSS)/float64(*idle))
		bad += lerr + qerr
	}
	return bad, nil
}
