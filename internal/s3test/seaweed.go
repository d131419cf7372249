package s3test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/izyware/izypop3/internal/testkit"
)

// WeedEnv names the environment variable that points at a weed binary; if
// unset, the one .ci/seaweedfs.sh built (its --check prints the path) is used.
const WeedEnv = "IZYPOP3_WEED"

// weedScript builds weed once per machine and prints its path.
const weedScript = ".ci/seaweedfs.sh"

// seaweedStartTimeout bounds how long StartSeaweed waits for the S3
// gateway to answer a signed request and create the bucket (the filer
// joins the master a few seconds after the start).
const seaweedStartTimeout = 90 * time.Second

var (
	weedOnce sync.Once
	weedPath string
	weedErr  error
)

// WeedBinary returns the path of the weed binary: $IZYPOP3_WEED, else the
// one .ci/seaweedfs.sh --check reports.
func WeedBinary() (string, error) {
	weedOnce.Do(func() { weedPath, weedErr = findWeed() })
	return weedPath, weedErr
}

func findWeed() (string, error) {
	if p := os.Getenv(WeedEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %v", WeedEnv, p, err)
		}
		return p, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	var stderr bytes.Buffer
	cmd := exec.Command("bash", filepath.Join(root, weedScript), "--check")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("SeaweedFS (weed) is not built on this machine: run %s (once, ~20 min) or set %s: %s",
			weedScript, WeedEnv, strings.TrimSpace(stderr.String()))
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1], nil
}

// repoRoot walks up from the working directory to the directory holding
// .ci/seaweedfs.sh.
func repoRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, weedScript)); err == nil {
			return d, nil
		}
		p := filepath.Dir(d)
		if p == d {
			return "", fmt.Errorf("s3test: %s not found above the working directory; set %s", weedScript, WeedEnv)
		}
		d = p
	}
}

// SeaweedRequired reports whether a missing weed fails a test instead of
// skipping it: under CI (CI set) and when running as root, where make
// test's set-up builds weed (.ci/setup.sh).
func SeaweedRequired() bool {
	ci := os.Getenv("CI")
	return (ci != "" && ci != "false" && ci != "0") || os.Geteuid() == 0
}

// NeedWeed returns the weed binary's path. Without one it skips the test
// loudly, naming the script that builds it, or fails it where weed is
// required (SeaweedRequired).
func NeedWeed(tb testing.TB) string {
	tb.Helper()
	p, err := WeedBinary()
	if err == nil {
		return p
	}
	required := ""
	if SeaweedRequired() {
		required = "CI or root"
	}
	testkit.PeerMissing(tb, err.Error(), required)
	return ""
}

// Seaweed is a running SeaweedFS (master, volume server, filer and S3
// gateway in one `weed server` process) on 127.0.0.1.
type Seaweed struct {
	*Server
	Dir     string // data directory (removed when the test ends)
	LogPath string

	// Retried names the earlier attempts that exited during start-up
	// (LaunchSeaweed), for the test's log.
	Retried []string

	cmd   *exec.Cmd
	done  chan struct{}
	ports []int
}

// StartSeaweed starts SeaweedFS (LaunchSeaweed) for a test and stops it
// when the test ends, printing the end of its log if the test failed.
// Without a weed binary it skips or fails the test (NeedWeed).
func StartSeaweed(tb testing.TB) *Seaweed {
	tb.Helper()
	weed := NeedWeed(tb)
	sw, err := LaunchSeaweed(weed)
	if sw != nil {
		tb.Cleanup(func() {
			sw.stop()
			if tb.Failed() {
				tb.Logf("--- weed log (last 4 KB) ---\n%s", sw.LogTail(4096))
			}
			os.RemoveAll(sw.Dir)
		})
	}
	if err != nil {
		tb.Fatal(err)
	}
	for _, r := range sw.Retried {
		tb.Logf("s3test: SeaweedFS started again: %s", r)
	}
	return sw
}

// seaweedAttempts bounds how many times LaunchSeaweed starts weed when it
// exits during start-up. Its eight ports are only free a moment before
// the start and the last of them is bound seconds later, so under a
// parallel `go test ./...` another process can take one first; weed then
// exits (status 255, a fatal log line) and a fresh set of ports is the
// cure.
const seaweedAttempts = 3

// LaunchSeaweed starts `weed server -s3` (the weed binary at path weed)
// with every port on 127.0.0.1 free a moment before (internal/testkit),
// telemetry off, data in a temporary directory, and an S3 identity whose
// key pair the gateway checks (SigV4). It waits until the gateway accepts
// a signed write and creates the bucket; if weed exits before that, it
// starts it again on new ports, up to seaweedAttempts times, and the
// error of a last failure names every attempt's fatal log lines. Close
// stops the whole process group and removes the directory. On an error
// after the start the returned *Seaweed is non-nil (for its log) and
// must be closed.
func LaunchSeaweed(weed string) (*Seaweed, error) {
	var earlier []string
	for attempt := 1; ; attempt++ {
		sw, err := launchSeaweed(weed)
		var exited *exitedError
		if err == nil || !errors.As(err, &exited) || attempt == seaweedAttempts {
			if err != nil && len(earlier) > 0 {
				err = fmt.Errorf("%v (after %d attempts; earlier: %s)", err, attempt, strings.Join(earlier, "; "))
			}
			if sw != nil {
				sw.Retried = earlier
			}
			return sw, err
		}
		earlier = append(earlier, fmt.Sprintf("attempt %d: %v: %s", attempt, err, sw.fatalLines()))
		sw.Close()
	}
}

// exitedError is waitReady's error when weed exited before it was ready.
type exitedError struct {
	state *os.ProcessState
	last  error // the last failed request, if any
}

func (e *exitedError) Error() string {
	if e.last == nil {
		return fmt.Sprintf("weed exited during start-up (%v)", e.state)
	}
	return fmt.Sprintf("weed exited during start-up (%v): last error %v", e.state, e.last)
}

// fatalLines returns the fatal lines of weed's log (glog's "F" lines), or
// its last line when there is none.
func (sw *Seaweed) fatalLines() string {
	b, _ := os.ReadFile(sw.LogPath)
	var fatal []string
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for _, l := range lines {
		if len(l) > 1 && l[0] == 'F' && l[1] >= '0' && l[1] <= '9' {
			fatal = append(fatal, l)
		}
	}
	if len(fatal) == 0 {
		fatal = lines[len(lines)-1:]
	}
	return strings.Join(fatal, " | ")
}

// launchSeaweed is one attempt of LaunchSeaweed.
func launchSeaweed(weed string) (*Seaweed, error) {
	dir, err := os.MkdirTemp("", "izypop3-seaweed-")
	if err != nil {
		return nil, err
	}
	sw := &Seaweed{
		Server: &Server{Bucket: "izypop3-test", AccessKey: "izypop3-key", SecretKey: "izypop3-secret-" + strconv.FormatInt(time.Now().UnixNano(), 36)},
		Dir:    dir,
		done:   make(chan struct{}),
	}
	ident := map[string]any{"identities": []any{map[string]any{
		"name":        "izypop3",
		"credentials": []any{map[string]string{"accessKey": sw.AccessKey, "secretKey": sw.SecretKey}},
		"actions":     []string{"Admin", "Read", "Write", "List", "Tagging"},
	}}}
	js, _ := json.Marshal(ident)
	s3conf := filepath.Join(dir, "s3.json")
	data := filepath.Join(dir, "data")
	if err := os.WriteFile(s3conf, js, 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := os.Mkdir(data, 0o700); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	// master, master gRPC, volume, volume gRPC, filer, filer gRPC, s3, s3 gRPC.
	for range 8 {
		port, err := testkit.FreePortE()
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		sw.ports = append(sw.ports, port)
	}
	p := sw.ports
	args := []string{"server",
		"-dir=" + data,
		"-ip=127.0.0.1", "-ip.bind=127.0.0.1",
		"-master.telemetry=false",
		"-master.port=" + strconv.Itoa(p[0]), "-master.port.grpc=" + strconv.Itoa(p[1]),
		"-master.volumeSizeLimitMB=64",
		"-volume.port=" + strconv.Itoa(p[2]), "-volume.port.grpc=" + strconv.Itoa(p[3]),
		"-volume.max=0",
		"-filer", "-filer.port=" + strconv.Itoa(p[4]), "-filer.port.grpc=" + strconv.Itoa(p[5]),
		"-filer.localSocket=" + filepath.Join(dir, "filer.sock"),
		"-s3", "-s3.port=" + strconv.Itoa(p[6]), "-s3.port.grpc=" + strconv.Itoa(p[7]),
		"-s3.port.iceberg=0", "-s3.port.lance=0",
		"-s3.localSocket=" + filepath.Join(dir, "s3.sock"),
		"-s3.config=" + s3conf,
	}
	sw.LogPath = filepath.Join(dir, "weed.log")
	logf, err := os.Create(sw.LogPath)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	sw.cmd = exec.Command(weed, args...)
	sw.cmd.Dir = dir
	sw.cmd.Stdout, sw.cmd.Stderr = logf, logf
	sw.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := sw.cmd.Start(); err != nil {
		logf.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("s3test: start %s: %v", weed, err)
	}
	go func() { sw.cmd.Wait(); logf.Close(); close(sw.done) }()
	sw.Endpoint = "http://" + testkit.Addr(p[6])
	if err := sw.waitReady(); err != nil {
		return sw, fmt.Errorf("s3test: SeaweedFS on %s: %w", sw.Endpoint, err)
	}
	return sw, nil
}

// Close stops SeaweedFS and removes its directory.
func (sw *Seaweed) Close() {
	sw.stop()
	os.RemoveAll(sw.Dir)
}

// LogTail returns the last n octets of weed's log.
func (sw *Seaweed) LogTail(n int) []byte {
	b, _ := os.ReadFile(sw.LogPath)
	return tail(b, n)
}

// PID is the weed process's id (for CPU and memory figures).
func (sw *Seaweed) PID() int { return sw.cmd.Process.Pid }

// waitReady retries creating the bucket (a signed request) until the
// gateway, its filer and a volume accept it.
func (sw *Seaweed) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), seaweedStartTimeout)
	defer cancel()
	c := sw.Client()
	var last error
	for {
		select {
		case <-sw.done:
			return &exitedError{state: sw.cmd.ProcessState}
		default:
		}
		rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := c.CreateBucket(rctx, &s3.CreateBucketInput{Bucket: aws.String(sw.Bucket)})
		if err == nil || strings.Contains(err.Error(), "BucketAlreadyOwnedByYou") || strings.Contains(err.Error(), "BucketAlreadyExists") {
			// A write proves a volume is there too.
			_, err = c.PutObject(rctx, &s3.PutObjectInput{Bucket: aws.String(sw.Bucket), Key: aws.String(".s3test-ready"), Body: strings.NewReader("ok")})
			if err == nil {
				_, err = c.DeleteObject(rctx, &s3.DeleteObjectInput{Bucket: aws.String(sw.Bucket), Key: aws.String(".s3test-ready")})
			}
		}
		rcancel()
		if err == nil {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready after %v: %v", seaweedStartTimeout, last)
		case <-sw.done:
			return &exitedError{state: sw.cmd.ProcessState, last: last}
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// stop kills weed's whole process group and removes the gRPC sockets it
// leaves in /tmp (named by port).
func (sw *Seaweed) stop() {
	if sw.cmd == nil || sw.cmd.Process == nil {
		return
	}
	pid := sw.cmd.Process.Pid
	syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-sw.done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-pid, syscall.SIGKILL)
		<-sw.done
	}
	syscall.Kill(-pid, syscall.SIGKILL) // any straggler of the group
	for _, port := range sw.ports {
		for _, kind := range []string{"master", "volume", "filer", "s3"} {
			os.Remove(fmt.Sprintf("/tmp/seaweedfs-%s-grpc-%d.sock", kind, port))
		}
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
