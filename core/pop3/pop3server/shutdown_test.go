package pop3server_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"reflect"
	"syscall"
	"testing"
	"time"

	"github.com/izyware/izypop3/core/pop3/pop3server"
	"github.com/izyware/izypop3/core/pop3/pop3server/memback"
	"github.com/izyware/izypop3/internal/testkit"
)

// TestShutdownLetsSessionsFinish: Shutdown stops accepting, ends sessions
// idle before login, lets a logged-in session QUIT (and be updated), then
// returns nil.
func TestShutdownLetsSessionsFinish(t *testing.T) {
	b := newBackend()
	srv, addr := startServer(t, testOptions(b))
	c := dial(t, addr)
	c.login()
	idle := dial(t, addr) // not logged in: nothing to finish
	idle.line()
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- srv.Shutdown(ctx)
	}()
	// New connections are refused once the listener is closed.
	deadline := time.Now().Add(5 * time.Second)
	for {
		nc, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		nc.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting after Shutdown")
		}
		time.Sleep(5 * time.Millisecond)
	}
	idle.expect("-ERR [SYS/TEMP] server shutting down")
	idle.expectEOF()
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v with a session open", err)
	default:
	}
	c.send("DELE 1", "QUIT")
	c.expect("+OK message 1 deleted", "+OK bye (2 messages left)")
	c.expectEOF()
	if err := <-done; err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	if calls := b.Calls(); len(calls) != 2 || calls[0].Op != "update" {
		t.Errorf("calls = %+v, want update, close", calls)
	}
}

// TestShutdownAbandonsUnfinished: when the grace period ends, sessions are
// closed and abandoned, never updated, whatever they marked.
func TestShutdownAbandonsUnfinished(t *testing.T) {
	b := newBackend()
	srv, addr := startServer(t, testOptions(b))
	c := dial(t, addr)
	c.login()
	c.send("RETR 1", "DELE 1", "DELE 2")
	c.expect("+OK 43 octets")
	c.body()
	c.expect("+OK message 1 deleted", "+OK message 2 deleted")
	idle := dial(t, addr) // a session still in AUTHORIZATION
	idle.line()

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want DeadlineExceeded", err)
	}
	// Shutdown returned after Close: the cleanup is done.
	want := []memback.Call{{Op: "abandon", User: "bob", Retrieved: []string{"uid-1"}}, {Op: "close", User: "bob"}}
	if calls := b.Calls(); !reflect.DeepEqual(calls, want) {
		t.Errorf("calls = %+v, want %+v", calls, want)
	}
	if got := b.UIDs("bob"); len(got) != 3 {
		t.Errorf("maildrop changed: %q", got)
	}
	c.expectEOF()
	idle.expect("-ERR [SYS/TEMP] server shutting down")
	idle.expectEOF()
}

// TestCloseDuringRetr: Close interrupts a stream that waits on the store,
// returns, and the maildrop is abandoned.
func TestCloseDuringRetr(t *testing.T) {
	b := newBackend()
	started := make(chan struct{})
	hb := &hookBackend{Backend: b, wrap: func(mb pop3server.Mailbox) pop3server.Mailbox {
		return &hookMailbox{Mailbox: mb, open: func(ctx context.Context, n int) (io.ReadCloser, error) {
			close(started)
			return blockingReader{ctx}, nil
		}}
	}}
	srv := pop3server.New(testOptions(hb))
	l := testkit.Listen(t)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	c := dial(t, l.Addr().String())
	c.login()
	c.send("RETR 1")
	<-started
	closed := make(chan struct{})
	go func() { srv.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	if err := <-served; !errors.Is(err, pop3server.ErrServerClosed) {
		t.Errorf("Serve = %v, want ErrServerClosed", err)
	}
	if calls := b.Calls(); len(calls) != 2 || calls[0].Op != "abandon" || calls[1].Op != "close" {
		t.Errorf("calls = %+v, want abandon, close", calls)
	}
	// Serving again after Close fails at once.
	l2, _ := net.Listen("tcp", "127.0.0.1:0")
	if err := srv.Serve(l2); !errors.Is(err, pop3server.ErrServerClosed) {
		t.Errorf("Serve after Close = %v", err)
	}
}

// TestServeWithoutBackend: a missing Backend is reported, not a panic.
func TestServeWithoutBackend(t *testing.T) {
	l := testkit.Listen(t)
	if err := pop3server.New(nil).Serve(l); err == nil {
		t.Fatal("Serve without Backend = nil")
	}
}

// TestListenAndServe runs the address form.
func TestListenAndServe(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	srv := pop3server.New(testOptions(newBackend()))
	done := make(chan error, 1)
	go func() { done <- srv.ListenAndServe(addr) }()
	var c net.Conn
	var err error
	for i := 0; i < 200; i++ {
		if c, err = net.Dial("tcp", addr); err == nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	srv.Close()
	if err := <-done; !errors.Is(err, pop3server.ErrServerClosed) {
		t.Errorf("ListenAndServe = %v", err)
	}
}

// flakyListener fails its first Accepts with EMFILE, as a server out of
// file descriptors sees.
type flakyListener struct {
	net.Listener
	fails int
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.fails > 0 {
		l.fails--
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// TestAcceptRetries: passing Accept errors do not stop the server.
func TestAcceptRetries(t *testing.T) {
	srv := pop3server.New(testOptions(newBackend()))
	l := testkit.Listen(t)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(&flakyListener{Listener: l, fails: 3}) }()
	c := dial(t, l.Addr().String())
	c.login()
	srv.Close()
	if err := <-done; !errors.Is(err, pop3server.ErrServerClosed) {
		t.Errorf("Serve = %v", err)
	}
}
