package storehost

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/izyware/izypop3/core/storehost/internal/teststore"
	"github.com/izyware/izypop3/internal/testkit"
	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/pluginhost"
	"github.com/izyware/izypop3/sdk/storetest"
)

// open starts path as store name and closes it at the end of the test.
func open(t *testing.T, opts Options) *Host {
	t.Helper()
	if opts.Name == "" {
		opts.Name = "test"
	}
	h, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func TestRoundTripThroughPlugin(t *testing.T) {
	t.Setenv("IZYPOP3_PLUGIN_LOG_LEVEL", "debug")
	var logs testkit.SyncBuffer
	h := open(t, Options{
		Path:   pluginTest,
		Config: map[string]string{"greeting": "hi"},
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	ctx := context.Background()
	info := h.Info()
	if info.Name != "test" || info.Version != "1.0.0" || info.SDKVersion != sdk.Version {
		t.Fatalf("Info = %+v", info)
	}
	body := "Subject: hello\r\n\r\nworld\r\n"
	res, err := h.Store().Put(ctx, "INBOX", sdk.PutOptions{SourceID: "s1"}, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	items := storetest.List(t, h.Store(), "INBOX")
	if len(items) != 1 || items[0].UID != res.UID || items[0].SourceID != "s1" {
		t.Fatalf("List = %+v", items)
	}
	if got := storetest.Fetch(t, h.Store(), "INBOX", res.UID); string(got) != body {
		t.Fatalf("Fetch = %q", got)
	}
	if _, err := h.Store().Fetch(ctx, "INBOX", "nope"); !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("Fetch missing = %v", err)
	}
	tok, err := h.Store().(sdk.Locker).Lock(ctx, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Store().(sdk.Locker).Lock(ctx, "INBOX"); !errors.Is(err, sdk.ErrInUse) {
		t.Errorf("second Lock = %v, want ErrInUse", err)
	}
	if err := h.Store().(sdk.Locker).Unlock(ctx, "INBOX", tok); err != nil {
		t.Error(err)
	}
	if err := h.Store().(sdk.Checker).Check(ctx); err != nil {
		t.Error(err)
	}
	if _, ok := h.Store().(sdk.Authenticator); ok {
		t.Error("the store value implements sdk.Authenticator; the plugin does not")
	}
	// The plugin's stderr (its JSON log lines) reaches the host's logger,
	// at their level, with the store's name.
	if s := logs.String(); !strings.Contains(s, "plugin address") || !strings.Contains(s, "level=DEBUG") || !strings.Contains(s, "store=test") {
		t.Errorf("plugin log not forwarded; host log:\n%s", s)
	}
}

func TestStrictConfig(t *testing.T) {
	ctx := context.Background()
	_, err := Open(ctx, Options{Name: "test", Path: pluginTest, Config: map[string]string{"greeting": "x", "bogus": "1"}})
	// The store's own words, named, without the sentinel's.
	var ce *ConfigError
	if !errors.Is(err, sdk.ErrInvalid) || !errors.As(err, &ce) || err.Error() != `store "test": unknown config key "bogus"` {
		t.Errorf("unknown key: %v", err)
	}
	_, err = Open(ctx, Options{Name: "plain", Path: pluginPlain, Config: map[string]string{"path": "/x", "a": "b"}})
	if !errors.Is(err, sdk.ErrInvalid) || err.Error() != `unknown keys "mimestore.a", "mimestore.path" for store plain (it takes none)` {
		t.Errorf("store without Configurer: %v", err)
	}
	// Reconfiguring a running store: strict too, and kept for restarts.
	ht := open(t, Options{Path: pluginTest})
	if err := ht.Store().(sdk.Configurer).Configure(ctx, map[string]string{"bogus": "1"}); !errors.Is(err, sdk.ErrInvalid) || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("Configure bogus: %v", err)
	}
	if err := ht.Store().(sdk.Configurer).Configure(ctx, map[string]string{"greeting": "hello"}); err != nil {
		t.Errorf("Configure: %v", err)
	}
	syscall.Kill(ht.PID(), syscall.SIGKILL)
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := ht.Ping(ctx)
		if err == nil {
			break
		}
		if !errors.Is(err, sdk.ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("Ping after kill: %v", err)
		}
	}

	h := open(t, Options{Name: "plain", Path: pluginPlain})
	if err := h.Ping(ctx); err != nil {
		t.Errorf("Ping of a store without Checker: %v", err)
	}
	if _, ok := h.Store().(sdk.Checker); ok {
		t.Error("the store value of a plugin without Checker implements sdk.Checker")
	}
}

// alivePID reports whether process pid exists and is not a zombie (in a
// container, PID 1 may not reap orphans).
func alivePID(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	_, rest, ok := strings.Cut(string(b), ") ")
	return ok && !strings.HasPrefix(rest, "Z") && !strings.HasPrefix(rest, "X")
}

// TestPdeathsig kills a host process with SIGKILL (no chance to clean up)
// and checks that the kernel kills its plugin.
func TestPdeathsig(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Pdeathsig is Linux-only")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envIntermediate+"="+pluginTest)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || !alivePID(pid) {
		t.Fatalf("intermediate host said %q", line)
	}
	cmd.Process.Kill()
	cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for alivePID(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("plugin %d survived its host", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestKillDuringFetch(t *testing.T) {
	h := open(t, Options{Path: pluginTest})
	ctx := context.Background()
	pid := h.PID()
	if pid == 0 {
		t.Fatal("no pid")
	}
	const size = 50 << 20
	rc, err := h.Store().Fetch(ctx, "INBOX", teststore.GenPrefix+"52428800")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	want := teststore.Generated(size)
	buf, wbuf := make([]byte, 1<<20), make([]byte, 1<<20)
	if _, err := io.ReadFull(rc, buf); err != nil {
		t.Fatal(err)
	}
	io.ReadFull(want, wbuf)
	if !bytes.Equal(buf, wbuf) {
		t.Fatal("first MiB differs")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, rc)
	if err == nil {
		t.Fatalf("read after SIGKILL ended cleanly after %d more octets (silent short read)", n)
	}
	if !errors.Is(err, sdk.ErrUnavailable) {
		t.Fatalf("read after SIGKILL: %v, want ErrUnavailable", err)
	}
	if total := int64(len(buf)) + n; total >= size {
		t.Fatalf("read %d octets of %d", total, size)
	}
	t.Logf("after SIGKILL: %d more octets, then %v", n, err)

	// The next call starts a new process.
	st, err := h.Store().Stat(ctx, "INBOX")
	if err != nil {
		t.Fatalf("call after the crash: %v", err)
	}
	if len(st) != 0 {
		t.Errorf("fresh plugin has %v", st)
	}
	if npid := h.PID(); npid == 0 || npid == pid {
		t.Fatalf("pid after restart %d (was %d)", npid, pid)
	}
	// And streams a whole 50 MiB message correctly.
	rc2, err := h.Store().Fetch(ctx, "INBOX", teststore.GenPrefix+"52428800")
	if err != nil {
		t.Fatal(err)
	}
	hg, hw := sha256.New(), sha256.New()
	n, err = io.Copy(hg, rc2)
	rc2.Close()
	io.Copy(hw, teststore.Generated(size))
	if err != nil || n != size || !bytes.Equal(hg.Sum(nil), hw.Sum(nil)) {
		t.Fatalf("fetch after restart: %d octets, %v", n, err)
	}
	// The killed process is reaped.
	deadline := time.Now().Add(5 * time.Second)
	for alivePID(pid) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if alivePID(pid) {
		t.Errorf("old plugin %d still there", pid)
	}
}

func TestKillBetweenCalls(t *testing.T) {
	h := open(t, Options{Path: pluginTest, Config: map[string]string{"greeting": "x"}})
	ctx := context.Background()
	for i := range 3 {
		pid := h.PID()
		if _, err := h.Store().Stat(ctx, "m"); err != nil {
			t.Fatal(err)
		}
		syscall.Kill(pid, syscall.SIGKILL)
		// Calls may fail while the death is noticed, but never with anything
		// but ErrUnavailable, and the store comes back.
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, err := h.Store().Stat(ctx, "m")
			if err == nil {
				break
			}
			if !errors.Is(err, sdk.ErrUnavailable) {
				t.Fatalf("round %d: %v", i, err)
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: no restart: %v", i, err)
			}
		}
		if h.PID() == pid {
			t.Fatalf("round %d: same pid", i)
		}
		// The dead client is forgotten, not kept until exit.
		if n := liveClients(); n != 1 {
			t.Fatalf("round %d: %d live plugin clients registered, want 1", i, n)
		}
	}
}

func TestBackoff(t *testing.T) {
	h := &Host{opts: Options{MinRestartDelay: 50 * time.Millisecond, MaxRestartDelay: 5 * time.Second}}
	want := []time.Duration{0, 50, 100, 200, 400, 800, 1600, 3200, 5000, 5000}
	for i, w := range want {
		h.restarts = i
		if got := h.delayLocked(); got != w*time.Millisecond {
			t.Errorf("restarts %d: %v, want %v", i, got, w*time.Millisecond)
		}
	}
}

func TestCloseStopsPlugin(t *testing.T) {
	h, err := Open(context.Background(), Options{Name: "test", Path: pluginTest, SocketDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	pid := h.PID()
	dirs, _ := filepath.Glob(filepath.Join(h.opts.SocketDir, "izypop3-store-*"))
	if len(dirs) != 1 {
		t.Fatalf("socket dirs %v", dirs)
	}
	if st, err := os.Stat(dirs[0]); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("socket dir mode %v, %v", st.Mode(), err)
	}
	h.Close()
	if alivePID(pid) {
		t.Errorf("plugin %d alive after Close", pid)
	}
	if _, err := os.Stat(dirs[0]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket dir left behind: %v", err)
	}
	if _, err := h.Store().Stat(context.Background(), "m"); !errors.Is(err, ErrClosed) || !errors.Is(err, sdk.ErrUnavailable) {
		t.Errorf("call after Close: %v", err)
	}
}

func TestNotAPlugin(t *testing.T) {
	dir := t.TempDir()
	script := func(name, body string) string {
		p := filepath.Join(dir, BinaryPrefix+name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name, path, want string
	}{
		{"hello", script("hello", "echo hello world"), `not an izypop3 store plugin (handshake failed: it printed "hello world")`},
		{"exits", script("exits", "echo oops >&2; exit 3"), "not an izypop3 store plugin (handshake failed: it exited before the handshake"},
		{"protocol2", pluginProtocol2, "speaks protocol 2, this izypop3 speaks 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Open(context.Background(), Options{Name: c.name, Path: c.path, StartTimeout: 5 * time.Second})
			if err == nil {
				t.Fatal("Open succeeded")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error is several lines:\n%s", msg)
			}
			prefix := `store "` + c.name + `" at ` + c.path + ": "
			if !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, c.want) {
				t.Errorf("error %q, want %q…%q", msg, prefix, c.want)
			}
			if !errors.Is(err, ErrNotPlugin) {
				t.Errorf("error does not wrap ErrNotPlugin")
			}
		})
	}
}

func TestSHA256Pin(t *testing.T) {
	data, err := os.ReadFile(pluginTest)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	h := open(t, Options{Path: pluginTest, SHA256: strings.ToUpper(hex.EncodeToString(sum[:]))})
	if _, err := h.Store().Stat(context.Background(), "m"); err != nil {
		t.Fatal(err)
	}
	_, err = Open(context.Background(), Options{Name: "test", Path: pluginTest, SHA256: strings.Repeat("ab", 32)})
	if err == nil || !strings.Contains(err.Error(), "pinned "+strings.Repeat("ab", 32)) {
		t.Errorf("wrong pin: %v", err)
	}
	if _, err := Open(context.Background(), Options{Name: "test", Path: pluginTest, SHA256: "xyz"}); err == nil {
		t.Error("malformed pin accepted")
	}
}

func TestDiscoveryOrder(t *testing.T) {
	root := t.TempDir()
	mk := func(dir string, mode os.FileMode) string {
		d := filepath.Join(root, dir)
		os.MkdirAll(d, 0o755)
		p := filepath.Join(d, BinaryPrefix+"x")
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	explicit := mk("explicit", 0o755)
	inDir := mk("plugindir", 0o755)
	inEnv := mk("envdir", 0o755)
	inPath := mk("path", 0o755)
	mk("path0", 0o644) // not executable: skipped
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exeDir := filepath.Dir(exe)
	inExe := filepath.Join(exeDir, BinaryPrefix+"x")
	if err := os.WriteFile(inExe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Skipf("executable dir not writable: %v", err)
	}
	t.Cleanup(func() { os.Remove(inExe) })
	t.Setenv("PATH", filepath.Join(root, "path0")+string(os.PathListSeparator)+filepath.Join(root, "path"))
	t.Setenv(EnvPluginDir, filepath.Join(root, "envdir"))

	l := Locator{PluginDir: filepath.Join(root, "plugindir")}
	find := func(l Locator, explicitPath string) string {
		t.Helper()
		f, err := l.Find("x", explicitPath)
		if err != nil {
			t.Fatal(err)
		}
		return f.Path
	}
	if got := find(l, explicit); got != explicit {
		t.Errorf("explicit: %s", got)
	}
	if got := find(l, ""); got != inDir {
		t.Errorf("plugin dir first: %s", got)
	}
	if got := find(Locator{}, ""); got != inEnv {
		t.Errorf("env plugin dir when no flag: %s", got)
	}
	found, err := l.Discover()
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || found[0].Name != "x" || found[0].Path != inDir || len(found[0].Shadows) != 2 ||
		found[0].Shadows[0] != inExe || found[0].Shadows[1] != inPath {
		t.Errorf("Discover = %+v", found)
	}
	os.Remove(inDir)
	if got := find(l, ""); got != inExe {
		t.Errorf("executable dir second: %s", got)
	}
	os.Remove(inExe)
	if got := find(l, ""); got != inPath {
		t.Errorf("PATH last: %s", got)
	}
	os.Remove(inPath)
	_, err = l.Find("x", "")
	if !errors.Is(err, ErrNoPlugin) {
		t.Errorf("none left: %v", err)
	}
	if _, err := l.Find("../x", ""); err == nil || errors.Is(err, ErrNoPlugin) {
		t.Errorf("bad name: %v", err)
	}
	if _, err := l.Find("x", filepath.Join(root, "path0", BinaryPrefix+"x")); err == nil {
		t.Error("non-executable explicit path accepted")
	}
}

// A bundled store is started as `Self BundledArg NAME`; it comes after the
// plugin dir and before the executable's directory and PATH.
func TestBundledStore(t *testing.T) {
	self, err := filepath.EvalSymlinks(pluginTest)
	if err != nil {
		t.Fatal(err)
	}
	loc := Locator{Bundled: []string{"test", "other"}, Self: pluginTest, NoExecutableDir: true, NoPATH: true}
	f, err := loc.Find("test", "")
	if err != nil || !f.Bundled || f.Path != self || !slices.Equal(f.Args(), []string{BundledArg, "test"}) {
		t.Fatalf("Find = %+v, %v; want the bundled store", f, err)
	}
	h := open(t, Options{Name: "test", Locator: loc})
	if !h.Bundled() || h.Path() != self {
		t.Errorf("host: bundled %v, path %s", h.Bundled(), h.Path())
	}
	if _, err := h.Store().Stat(t.Context(), "INBOX"); err != nil {
		t.Fatal(err)
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", h.PID()))
	if err != nil {
		t.Fatal(err)
	}
	if want := self + "\x00" + BundledArg + "\x00test\x00"; string(cmdline) != want {
		t.Errorf("plugin command line %q, want %q", cmdline, want)
	}

	// A binary in the plugin dir replaces the bundled store.
	dir := t.TempDir()
	inDir := filepath.Join(dir, BinaryPrefix+"test")
	if err := os.Symlink(pluginTest, inDir); err != nil {
		t.Fatal(err)
	}
	loc.PluginDir = dir
	if f, err := loc.Find("test", ""); err != nil || f.Bundled || f.Path != inDir {
		t.Errorf("with a plugin dir: Find = %+v, %v", f, err)
	}
	found, err := loc.Discover()
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 2 || found[0].Name != "other" || !found[0].Bundled ||
		found[1].Name != "test" || found[1].Bundled || found[1].Path != inDir || !slices.Equal(found[1].Shadows, []string{self}) {
		t.Errorf("Discover = %+v", found)
	}
}

func TestOpenByNameFromPluginDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink(pluginTest, filepath.Join(dir, BinaryPrefix+"viadir")); err != nil {
		t.Fatal(err)
	}
	h := open(t, Options{Name: "viadir", Locator: Locator{PluginDir: dir, NoExecutableDir: true, NoPATH: true}})
	if h.Path() != filepath.Join(dir, BinaryPrefix+"viadir") {
		t.Errorf("path %s", h.Path())
	}
	if _, err := h.Store().Stat(context.Background(), "m"); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), Options{Name: "missing", Locator: Locator{PluginDir: dir, NoExecutableDir: true, NoPATH: true}}); !errors.Is(err, ErrNoPlugin) {
		t.Errorf("missing store: %v", err)
	}
}

// TestKillUnderLoad kills the plugin twice while several goroutines call
// it: every failure must be ErrUnavailable, and all goroutines must get
// through on the restarted process (run with -race).
func TestKillUnderLoad(t *testing.T) {
	h := open(t, Options{Path: pluginTest})
	ctx := context.Background()
	if _, err := h.Store().Put(ctx, "m", sdk.PutOptions{}, strings.NewReader("Subject: x\r\n\r\ny\r\n")); err != nil {
		t.Fatal(err)
	}
	const workers = 6
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	var okAfter [workers]bool
	var mu sync.Mutex
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var err error
				switch w % 3 {
				case 0:
					_, err = h.Store().Stat(ctx, "m")
				case 1:
					var rc io.ReadCloser
					if rc, err = h.Store().Fetch(ctx, "m", teststore.GenPrefix+"3000000"); err == nil {
						_, err = io.Copy(io.Discard, rc)
						rc.Close()
					}
				case 2:
					for _, lerr := range h.Store().List(ctx, "m", sdk.ListOptions{}) {
						if lerr != nil {
							err = lerr
						}
					}
				}
				if err != nil && !errors.Is(err, sdk.ErrUnavailable) {
					errs <- err
					return
				}
				if err == nil {
					mu.Lock()
					okAfter[w] = true
					mu.Unlock()
				}
			}
		}()
	}
	for range 2 {
		time.Sleep(150 * time.Millisecond)
		pid := h.PID()
		if pid == 0 {
			// Between death and restart; wait for the restart.
			time.Sleep(100 * time.Millisecond)
			pid = h.PID()
		}
		if pid != 0 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(50 * time.Millisecond)
		mu.Lock()
		okAfter = [workers]bool{}
		mu.Unlock()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		all := true
		for _, ok := range okAfter {
			all = all && ok
		}
		mu.Unlock()
		if all {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not every worker recovered: %v", okAfter)
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a call failed with something else than ErrUnavailable: %v", err)
	}
}

// Cleanup, the exit-path call, kills every plugin a Host started and has
// not stopped, and forgets them.
func TestCleanupKillsPlugins(t *testing.T) {
	var pids []int
	for range 2 {
		h, err := Open(context.Background(), Options{Name: "test", Path: pluginTest, SocketDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, h.PID())
	}
	if n := liveClients(); n != 2 {
		t.Fatalf("%d live plugin clients, want 2", n)
	}
	Cleanup()
	for _, pid := range pids {
		deadline := time.Now().Add(5 * time.Second)
		for alivePID(pid) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if alivePID(pid) {
			t.Errorf("plugin %d alive after Cleanup", pid)
		}
	}
	if n := liveClients(); n != 0 {
		t.Errorf("%d live plugin clients after Cleanup, want 0", n)
	}
}

// TestRestartKeepsCapabilities: a plugin restarted from a binary that lacks
// a capability of the first start fails to start (the store value keeps its
// type; calls get ErrUnavailable), and works again once the binary is put
// back. A binary with more capabilities restarts fine, the value unchanged.
func TestRestartKeepsCapabilities(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, BinaryPrefix+"test")
	install := func(src string) {
		t.Helper()
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		tmp := bin + ".new"
		if err := os.WriteFile(tmp, b, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, bin); err != nil {
			t.Fatal(err)
		}
	}
	kill := func(h *Host) {
		t.Helper()
		if err := syscall.Kill(h.PID(), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(5 * time.Second); alivePID(h.PID()) && h.PID() != 0; {
			if time.Now().After(deadline) {
				t.Fatal("plugin survived SIGKILL")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	ctx := context.Background()

	install(pluginTest)
	h := open(t, Options{Path: bin, MinRestartDelay: time.Millisecond, MaxRestartDelay: 10 * time.Millisecond})
	st := h.Store()
	if _, ok := st.(sdk.Locker); !ok {
		t.Fatal("the test plugin's store is no Locker")
	}
	install(pluginPlain)
	kill(h)
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		// Calls may still reach the dying process, then fail on it.
		if _, err = st.Stat(ctx, "m"); err != nil && strings.Contains(err.Error(), "lacks capabilities") {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !errors.Is(err, sdk.ErrUnavailable) || !strings.Contains(err.Error(), "lacks capabilities") || !strings.Contains(err.Error(), pluginhost.CapLocker) {
		t.Fatalf("call after a restart from a binary without Locker: %v", err)
	}
	if _, ok := h.Store().(sdk.Locker); !ok || h.Store() != st {
		t.Error("the store value changed")
	}

	install(pluginTest)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := st.Stat(ctx, "m"); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("no recovery once the binary is back: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := st.(sdk.Locker).Lock(ctx, "m"); err != nil {
		t.Errorf("Lock after recovery: %v", err)
	}

	// Fewer capabilities at the first start, more at a restart: fine.
	install(pluginPlain)
	hp := open(t, Options{Name: "plain", Path: bin, MinRestartDelay: time.Millisecond})
	install(pluginTest)
	kill(hp)
	deadline = time.Now().Add(10 * time.Second)
	for {
		if _, err := hp.Store().Stat(ctx, "m"); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("restart with more capabilities: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, ok := hp.Store().(sdk.Locker); ok {
		t.Error("the store value gained Locker at a restart")
	}
	if !slices.Contains(hp.Info().Capabilities, pluginhost.CapLocker) {
		t.Errorf("Info after the restart: %+v, want the new process's capabilities", hp.Info())
	}
}
