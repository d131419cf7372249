package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/izyware/izypop3/internal/testkit"
	"github.com/izyware/izypop3/internal/testkit/promtest"
)

// serverpop3 --http-listen: a real session moves the counters by the right
// amounts (scraped and parsed with the Prometheus text parser), and
// /readyz fails while the store plugin does not answer or is dead, then
// recovers.
func TestServerMetricsEndpoint(t *testing.T) {
	root := t.TempDir()
	for i := 1; i <= 2; i++ {
		writeMessage(t, filepath.Join(root, "alice", fmt.Sprintf("m%d.eml", i)), i)
	}
	port, hport := testkit.FreePort(t), testkit.FreePort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(hport)
	cmd, _ := groupServer(t, port, "serverpop3", "--port", strconv.Itoa(port), "--password", "pw",
		"--modhandler", "localfs", "--mimestore.path", root, "--auth-fail-delay=1ms", "--log-format", "json",
		"--http-listen", "127.0.0.1:"+strconv.Itoa(hport))
	if code, body := httpGet(t, base+"/readyz"); code != 200 {
		t.Fatalf("/readyz = %d %q, want 200", code, body)
	}
	before, _ := promtest.Scrape(t, base)

	s := dialPOP3(t, port)
	s.cmd("USER alice")
	if r := s.cmd("PASS wrong"); !strings.HasPrefix(r, "-ERR") {
		t.Fatal(r)
	}
	s.cmd("USER alice")
	if r := s.cmd("PASS pw"); !strings.HasPrefix(r, "+OK") {
		t.Fatal(r)
	}
	if r := s.cmd("RETR 1"); !strings.HasPrefix(r, "+OK") {
		t.Fatal(r)
	}
	s.body()
	if r := s.cmd("QUIT"); !strings.HasPrefix(r, "+OK") {
		t.Fatal(r)
	}
	var after promtest.Families
	deadline := time.Now().Add(20 * time.Second)
	for {
		after, _ = promtest.Scrape(t, base)
		if after.Value("izypop3_pop3_sessions_active") == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if v := after.Value("izypop3_pop3_sessions_active"); v != 0 {
		t.Errorf("izypop3_pop3_sessions_active = %v, want 0", v)
	}
	promtest.CheckMoves(t, before, after,
		promtest.Moved("izypop3_pop3_sessions_total", 1),
		promtest.Moved("izypop3_pop3_logins_total", 1, "result", "ok"),
		promtest.Moved("izypop3_pop3_logins_total", 1, "result", "auth"),
		promtest.Moved("izypop3_pop3_commands_total", 1, "command", "RETR", "result", "ok"),
		promtest.Moved("izypop3_pop3_retr_duration_seconds", 1),
		promtest.Moved("izypop3_store_plugin_restarts_total", 0, "store", "localfs", "result", "ok"),
	)
	if v := after.Value("izypop3_pop3_sent_bytes_total"); v < 100 {
		t.Errorf("sent_bytes_total = %v, want at least a message", v)
	}
	if v := after.Value("izypop3_store_calls_total", "store", "localfs", "code", "OK"); v < 1 {
		t.Errorf("store calls OK = %v", v)
	}

	// The store plugin stops answering (SIGSTOP): not ready; SIGCONT: ready.
	pid := storePlugin(t, cmd.Process.Pid)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(pid, syscall.SIGCONT)
	// Stopped for sure before asking (state T in /proc/PID/stat).
	deadline = time.Now().Add(20 * time.Second)
	for {
		st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if i := bytes.LastIndexByte(st, ')'); i > 0 && len(st) > i+2 && st[i+2] == 'T' {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("store plugin %d not stopped: %q", pid, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	code, body := httpGet(t, base+"/readyz")
	syscall.Kill(pid, syscall.SIGCONT)
	if code != 503 {
		t.Errorf("/readyz with the plugin stopped = %d %q, want 503", code, body)
	}
	if code, _ := httpGet(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz = %d, want 200", code)
	}
	deadline = time.Now().Add(20 * time.Second)
	for {
		code, body := httpGet(t, base+"/readyz")
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz after SIGCONT = %d %q, want 200", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The store plugin dies (SIGKILL): /readyz is 503 until a new plugin
	// process answers, then 200, and the restart is counted.
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for { // dead for sure (gone, or a zombie) before asking
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if i := bytes.LastIndexByte(st, ')'); err != nil || i > 0 && len(st) > i+2 && st[i+2] == 'Z' {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		code, body := httpGet(t, base+"/readyz")
		if code == 200 {
			break
		}
		if code != 503 {
			t.Fatalf("/readyz with the plugin dead = %d %q, want 503 or 200", code, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz 30 s after the plugin died = %d %q, want 200 again", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if npid := storePlugin(t, cmd.Process.Pid); npid == pid {
		t.Fatalf("store plugin %d still the one killed", npid)
	}
	final, _ := promtest.Scrape(t, base)
	if v := final.Value("izypop3_store_plugin_restarts_total", "store", "localfs", "result", "ok"); v != 1 {
		t.Errorf("izypop3_store_plugin_restarts_total{result=ok} = %v after one plugin death, want 1", v)
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
