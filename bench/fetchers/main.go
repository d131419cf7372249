// Command fetchers compares POP3 fetchers on this machine, in one run,
// against one private Dovecot 2.3 serving the same maildrop: izypop3
// clientpop3 into localfs, mpop into a Maildir, getmail6 into a Maildir and
// fetchmail through an MDA that writes a Maildir file. Every one delivers
// durably (mpop and getmail6 fsync each message themselves; the fetchmail
// MDA runs sync(1) on the file and the directory; izypop3 runs the store's
// barrier). It prints the median wall time of each, the ratio to izypop3,
// the CPU time per message (user + system of the fetcher and the children
// it waited for: the load-independent figure on a shared machine), and
// izypop3's peak RSS (client + store plugin) while fetching one large
// message.
//
// The fetcher "wire" is the floor: a raw pipelined reader in this process
// that stores nothing (what Dovecot and the loopback take).
//
//	bench/fetchers.sh                  # 2000 × ~20 KB, 3 runs, a 50 MiB message
//	bench/fetchers.sh -fs journal      # delivering to a new ext4 with a journal
//	go run ./bench/fetchers -base OLDBIN -runs 5 -fetchers izypop3   # before/after
//	go run ./bench/fetchers -h
//
// Needs root (Dovecot's maildir and getmail6, which refuses root, run as
// the unprivileged mail user) and the peers of .ci/install-deps.sh.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/izyware/izypop3/bench/internal/popconn"
	"github.com/izyware/izypop3/internal/mailgen"
	"github.com/izyware/izypop3/test/interop/dovecottest"
)

var (
	count  = flag.Int("n", 2000, "messages in the maildrop")
	size   = flag.Int("size", 20000, "approximate size of each message in octets")
	runs   = flag.Int("runs", 3, "runs of each fetcher (the median is reported)")
	bin    = flag.String("bin", "bin", "directory with izypop3 and izypop3-store-localfs")
	bigMiB = flag.Int("big", 50, "size in MiB of the message of the RSS measurement (0: skip)")
	only   = flag.String("fetchers", "izypop3,mpop,getmail6,fetchmail", "fetchers to run (wire: the floor, a raw pipelined reader that stores nothing)")
	work   = flag.String("dir", "", "work directory (default: a new one under $TMPDIR, removed at the end)")
	fsKind = flag.String("fs", "", `filesystem the fetchers deliver to: "" the work directory's; "journal" a new ext4 with a journal (mkfs.ext4's defaults) in a loop-mounted image under $TMPDIR, removed at the end (needs root and e2fsprogs)`)
	base   = flag.String("base", "", "directory with other izypop3 binaries, run as fetcher izypop3-base alternating with the others (before/after comparisons)")
)

const pass = dovecottest.DefaultPassword

func main() {
	flag.Parse()
	log.SetFlags(0)
	binDir, err := filepath.Abs(*bin)
	if err != nil {
		log.Fatal(err)
	}
	s, err := dovecottest.Start(dovecottest.Options{Extra: "auth_failure_delay = 0"})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Stop()
	root := *work
	if root == "" {
		if root, err = os.MkdirTemp("", "izypop3-fetchers-"); err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(root)
	}
	if *fsKind == "journal" {
		os.Chmod(root, 0o755) // getmail6 runs as the mail user: it must reach the mount
		mnt, unmount, err := journaledFS(root)
		if err != nil {
			log.Fatal(err)
		}
		defer unmount()
		root = mnt
	} else if *fsKind != "" {
		log.Fatalf("-fs %q: want \"\" or \"journal\"", *fsKind)
	}
	os.Chmod(root, 0o755)
	var total int64
	for i, m := range mailgen.Set(11, *count, *size) {
		total += int64(len(m))
		if err := s.WriteMaildir("bench", fmt.Sprintf("1700000000.M%dP1.bench", i), m); err != nil {
			log.Fatal(err)
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("# %d messages, %.1f MiB, Dovecot on 127.0.0.1:%d, delivered to %s; load %s", *count, float64(total)/(1<<20), s.Port, describeFS(root), load)

	times := map[string][]time.Duration{}
	cpus := map[string][]time.Duration{}
	failed := map[string]int{}
	names := strings.Split(*only, ",")
	if *base != "" {
		names = append([]string{"izypop3-base"}, names...)
	}
	for r := 0; r < *runs; r++ {
		for _, name := range names {
			dir := filepath.Join(root, fmt.Sprintf("%s-%d", name, r))
			// A fetcher that fails is reported and left out of the table;
			// the others go on (getmail6 can lose its child's exit).
			d, cpu, err := fetch(name, binDir, s, dir)
			if err == nil {
				if n := delivered(name, dir); n != *count {
					err = fmt.Errorf("delivered %d messages, want %d", n, *count)
				}
			}
			if err != nil {
				failed[name]++
				fmt.Printf("# run %d %-12s FAILED after %.3f s, %d messages delivered: %v\n", r+1, name, d.Seconds(), delivered(name, dir), err)
				continue
			}
			times[name] = append(times[name], d)
			cpus[name] = append(cpus[name], cpu)
			fmt.Printf("# run %d %-12s %7.3f s wall, %6.3f s CPU (%.2f ms per message)\n", r+1, name, d.Seconds(), cpu.Seconds(),
				cpu.Seconds()*1000/float64(*count))
			// Kept until the end: creating files right after deleting as
			// many makes ext4 skip the recently freed inodes, which would
			// slow whichever fetcher runs next.
		}
	}
	if *runs > 0 {
		table(names, times, cpus, failed)
	}
	if *bigMiB > 0 {
		rss(binDir, s, filepath.Join(root, "big"))
	}
}

// table prints the median of each fetcher's runs and its ratio to izypop3's.
func table(names []string, times, cpus map[string][]time.Duration, failed map[string]int) {
	base := median(times["izypop3"])
	fmt.Println()
	fmt.Println("| fetcher | median wall time | its time / izypop3's | median CPU per message |")
	fmt.Println("|---|---|---|---|")
	for _, name := range names {
		if len(times[name]) == 0 {
			fmt.Printf("| %s | failed in all %d runs | | |\n", name, failed[name])
			continue
		}
		m := median(times[name])
		ratio := "1.0"
		if name != "izypop3" && base > 0 {
			ratio = fmt.Sprintf("%.2f", m.Seconds()/base.Seconds())
		}
		fmt.Printf("| %s | %.2f s | %s | %.2f ms |\n", name, m.Seconds(), ratio, median(cpus[name]).Seconds()*1000/float64(*count))
	}
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	c := append([]time.Duration(nil), ds...)
	sort.Slice(c, func(i, j int) bool { return c[i] < c[j] })
	return c[len(c)/2]
}

// mailUser is the unprivileged owner of the maildirs (getmail6 refuses
// to run as root).
func mailUser() (uid, gid int) {
	u, err := user.Lookup(dovecottest.MailUserName)
	if err != nil {
		log.Fatalf("user %s: %v (run .ci/install-deps.sh)", dovecottest.MailUserName, err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid
}

func maildir(dir string) error {
	for _, d := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// fetch runs one fetcher over the whole maildrop into dir and returns its
// wall time and its CPU time (user + system, of the fetcher and of the
// children it waited for: izypop3's store plugin, fetchmail's MDA).
func fetch(name, binDir string, s *dovecottest.Server, dir string) (time.Duration, time.Duration, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, 0, err
	}
	port := strconv.Itoa(s.Port)
	var cmd *exec.Cmd
	switch name {
	case "wire":
		return wire(s)
	case "izypop3-base":
		cmd = exec.Command(filepath.Join(*base, "izypop3"), "clientpop3", "--ip", "127.0.0.1", "--port", port,
			"--user", "bench", "--pass", pass, "--modhandler", "localfs", "--plugin-dir", *base,
			"--mimestore.path", dir, "--quiet")
	case "izypop3":
		cmd = exec.Command(filepath.Join(binDir, "izypop3"), "clientpop3", "--ip", "127.0.0.1", "--port", port,
			"--user", "bench", "--pass", pass, "--modhandler", "localfs", "--plugin-dir", binDir,
			"--mimestore.path", dir, "--quiet")
	case "mpop":
		md := filepath.Join(dir, "Maildir")
		if err := maildir(md); err != nil {
			return 0, 0, err
		}
		rc := filepath.Join(dir, "mpoprc")
		os.WriteFile(rc, []byte(fmt.Sprintf("defaults\naccount default\nhost 127.0.0.1\nport %s\ntls off\nauth user\nuser bench\npassword %s\n"+
			"delivery maildir %s\nkeep on\nonly_new off\nreceived_header off\nuidls_file %s\n", port, pass, md, filepath.Join(dir, "uidls"))), 0o600)
		cmd = exec.Command("mpop", "-C", rc, "-q")
		cmd.Env = append(os.Environ(), "HOME="+dir)
	case "getmail6":
		md := filepath.Join(dir, "Maildir")
		if err := maildir(md); err != nil {
			return 0, 0, err
		}
		rc := filepath.Join(dir, "getmailrc")
		os.WriteFile(rc, []byte(fmt.Sprintf("[retriever]\ntype = SimplePOP3Retriever\nserver = 127.0.0.1\nport = %s\nusername = bench\npassword = %s\n\n"+
			"[destination]\ntype = Maildir\npath = %s/\n\n[options]\nread_all = true\ndelete = false\nverbose = 0\nreceived = false\ndelivered_to = false\n", port, pass, md)), 0o600)
		uid, gid := mailUser()
		filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
			if err == nil {
				os.Lchown(p, uid, gid)
			}
			return nil
		})
		cmd = exec.Command("getmail", "--getmaildir", dir, "--rcfile", rc, "--quiet")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		cmd.Env = append(os.Environ(), "HOME="+dir)
	case "fetchmail":
		md := filepath.Join(dir, "Maildir")
		if err := maildir(md); err != nil {
			return 0, 0, err
		}
		mda := filepath.Join(dir, "mda.sh")
		// A durable Maildir delivery: write tmp/, fsync the file, rename
		// into new/, fsync the directory.
		os.WriteFile(mda, []byte("#!/bin/sh\nn=$(date +%s%N).$$\ncat > \"$1/tmp/$n\" && sync \"$1/tmp/$n\" && mv \"$1/tmp/$n\" \"$1/new/$n\" && sync \"$1/new\"\n"), 0o700)
		rc := filepath.Join(dir, "fetchmailrc")
		os.WriteFile(rc, []byte(fmt.Sprintf("set no syslog\nset no bouncemail\nset invisible\npoll 127.0.0.1 service %s protocol pop3 auth password timeout 60\n"+
			"  user \"bench\" password \"%s\"\n  keep fetchall no rewrite no mimedecode sslproto ''\n  mda \"%s %s\"\n", port, pass, mda, md)), 0o600)
		cmd = exec.Command("fetchmail", "-f", rc, "--nosyslog", "--nodetach", "-s", "--pidfile", filepath.Join(dir, "fetchmail.pid"))
		cmd.Env = append(os.Environ(), "HOME="+dir, "FETCHMAILHOME="+dir)
	default:
		return 0, 0, fmt.Errorf("unknown fetcher")
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return d, 0, fmt.Errorf("%v\n%s", err, out.String())
	}
	return d, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}

// wire is the floor: a raw-socket client in this process that retrieves
// the whole maildrop pipelined (32 RETRs in flight, izypop3's window) and
// only hashes it, storing nothing. Its CPU time is this
// process's (idle otherwise).
func wire(s *dovecottest.Server) (time.Duration, time.Duration, error) {
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	start := time.Now()
	r, err := popconn.RetrieveAll(s.Addr(), "bench", pass, 32)
	d := time.Since(start)
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	if err != nil {
		return d, 0, err
	}
	wireCount = len(r.Sums)
	cpu := time.Duration(after.Utime.Nano() - before.Utime.Nano() + after.Stime.Nano() - before.Stime.Nano())
	return d, cpu, nil
}

// wireCount is how many messages the last wire run read.
var wireCount int

// delivered counts the messages a fetcher left in dir.
func delivered(name, dir string) int {
	var pattern string
	switch name {
	case "wire":
		return wireCount
	case "izypop3", "izypop3-base":
		pattern = filepath.Join(dir, "bench", "*.eml")
	default:
		pattern = filepath.Join(dir, "Maildir", "new", "*")
	}
	m, _ := filepath.Glob(pattern)
	return len(m)
}

// rss fetches one big message with izypop3 and samples the peak resident
// set (VmHWM) of the client and of its store plugin.
func rss(binDir string, s *dovecottest.Server, dir string) {
	msg := mailgen.Message(99, 0, *bigMiB<<20)
	if err := s.WriteMaildir("big", "1700000001.M1P1.big", msg); err != nil {
		log.Fatal(err)
	}
	os.MkdirAll(dir, 0o755)
	cmd := exec.Command(filepath.Join(binDir, "izypop3"), "clientpop3", "--ip", "127.0.0.1", "--port", strconv.Itoa(s.Port),
		"--user", "big", "--pass", pass, "--modhandler", "localfs", "--plugin-dir", binDir, "--mimestore.path", dir, "--quiet")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var client, plugin int64
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				log.Fatalf("big message: %v\n%s", err, out.String())
			}
			fmt.Printf("\nizypop3 fetching one %d MiB message: peak RSS client %.1f MiB + store plugin %.1f MiB = %.1f MiB\n",
				*bigMiB, float64(client)/1024, float64(plugin)/1024, float64(client+plugin)/1024)
			return
		case <-tick.C:
			pid := cmd.Process.Pid
			client = max(client, hwm(pid))
			for _, c := range children(pid) {
				plugin = max(plugin, hwm(c))
			}
		}
	}
}

// hwm returns the VmHWM of pid in KiB (0 if gone).
func hwm(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// children lists the child processes of pid.
func children(pid int) []int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, t := range tasks {
		b, _ := os.ReadFile(t)
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}
