// Package izyserver starts the izypop3 server the benchmarks measure, and
// makes in-process the messages its fake store serves.
package izyserver

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/izyware/izypop3/bench/internal/popconn"
	"github.com/izyware/izypop3/internal/testkit"
	"github.com/izyware/izypop3/plugins/fake/fakestore"
	"github.com/izyware/izypop3/sdk"
)

// Limits of Start and Stop.
const (
	// GreetTimeout bounds the wait for the greeting after start.
	GreetTimeout = 60 * time.Second
	// stopTimeout bounds the wait for an exit after SIGTERM; then SIGKILL.
	stopTimeout = 15 * time.Second
	// logLimit is how much of the server's output Log keeps.
	logLimit = 1 << 20
)

// Server is a running izypop3 serverpop3 on 127.0.0.1:Port.
type Server struct {
	Port int
	Cmd  *exec.Cmd

	mu   sync.Mutex
	log  bytes.Buffer
	done chan error
}

// Write keeps the server's output (stdout and stderr), up to logLimit.
func (s *Server) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.log.Len() < logLimit {
		s.log.Write(b)
	}
	return len(b), nil
}

// Log returns what the server has written so far.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// Start runs binDir/izypop3 serverpop3 on a free port of 127.0.0.1,
// accepting password for any user, its store plugins taken from binDir,
// with the extra arguments (the store: --modhandler and its --mimestore.*
// settings), and returns once it answers with a greeting. The server is
// killed if the benchmark dies.
func Start(binDir, password string, extra ...string) (*Server, error) {
	port, err := testkit.FreePortE()
	if err != nil {
		return nil, err
	}
	args := append([]string{"serverpop3", "--listen", "127.0.0.1", "--port", strconv.Itoa(port),
		"--password", password, "--plugin-dir", binDir}, extra...)
	s := &Server{Port: port, done: make(chan error, 1)}
	s.Cmd = exec.Command(filepath.Join(binDir, "izypop3"), args...)
	s.Cmd.Stdout, s.Cmd.Stderr = s, s
	testkit.DieWithParent(s.Cmd, syscall.SIGKILL) // a killed run leaves no server on its port
	if err := s.Cmd.Start(); err != nil {
		return nil, err
	}
	go func() { s.done <- s.Cmd.Wait() }()
	deadline := time.Now().Add(GreetTimeout)
	for {
		c, err := popconn.Dial(testkit.Addr(port))
		if err == nil {
			c.Close()
			return s, nil
		}
		select {
		case err := <-s.done:
			return nil, fmt.Errorf("%s exited: %v\n%s", s.Cmd, err, s.Log())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("izypop3 gave no greeting in %v\n%s", GreetTimeout, s.Log())
		}
	}
}

// Stop sends SIGTERM and waits for the exit, killing the server if it
// takes longer than stopTimeout. It is called once.
func (s *Server) Stop() {
	s.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		s.Cmd.Process.Kill()
		<-s.done
	}
}

// FakeMessages generates, in-process, the unread messages the fake store
// gives mailbox user with n messages of lo to hi octets made from seed:
// the very octets `izypop3 serverpop3 --modhandler fake` with the same
// mimestore.* settings serves.
func FakeMessages(ctx context.Context, user string, n, lo, hi, seed int) ([][]byte, error) {
	st := fakestore.New()
	if err := st.Configure(ctx, map[string]string{
		"count": strconv.Itoa(n), "minsize": strconv.Itoa(lo), "maxsize": strconv.Itoa(hi), "seed": strconv.Itoa(seed),
	}); err != nil {
		return nil, err
	}
	var out [][]byte
	for it, err := range st.List(ctx, user, sdk.ListOptions{Tags: []sdk.Tag{sdk.TagUnread}}) {
		if err != nil {
			return nil, err
		}
		rc, err := st.Fetch(ctx, user, it.UID)
		if err != nil {
			return nil, err
		}
		b := bytes.NewBuffer(make([]byte, 0, it.Size))
		_, err = b.ReadFrom(rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
		out = append(out, b.Bytes())
	}
	if len(out) != n {
		return nil, fmt.Errorf("fake store listed %d messages, want %d", len(out), n)
	}
	return out, nil
}
