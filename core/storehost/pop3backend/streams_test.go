package pop3backend

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/izyware/izypop3/core/pop3"
	"github.com/izyware/izypop3/core/pop3/pop3server"
	"github.com/izyware/izypop3/sdk"
)

// TestMaxStreams (regression: every stalled RETR kept a store stream,
// and with it up to a flow-control window of message data, however many
// there were): message streams over all sessions are bounded; one beyond
// the bound waits, then fails with -ERR [SYS/TEMP]; closing one frees it.
func TestMaxStreams(t *testing.T) {
	s := newMemStore()
	const body = "Subject: x\r\n\r\nbody\r\n"
	for _, u := range []string{"alice", "bob"} {
		s.add(u, body, sdk.TagUnread)
		s.add(u, body, sdk.TagUnread)
	}
	b := newBackendT(t, s, Options{MaxStreams: 2})
	alice, bob := login(t, b, "alice"), login(t, b, "bob")
	messages(t, alice)
	messages(t, bob)
	// Alice holds both streams (a stalled RETR and TOP).
	r1, err := alice.Open(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := alice.(pop3server.TopOpener).OpenTop(ctx, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := bob.Open(short, 1); err == nil {
		t.Fatal("a third stream opened with MaxStreams 2")
	} else {
		wantCode(t, err, pop3.CodeSysTemp)
	}
	// A closed stream is given back (once, however often it is closed).
	r1.Close()
	r1.Close()
	r3, err := bob.Open(ctx, 1)
	if err != nil {
		t.Fatalf("Open after a stream closed: %v", err)
	}
	if got, _ := io.ReadAll(r3); string(got) != body {
		t.Fatalf("read %q", got)
	}
	short2, cancel2 := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel2()
	if _, err := bob.Open(short2, 2); err == nil {
		t.Fatal("a third stream opened with MaxStreams 2")
	}
	// A waiting Open gets the stream closed while it waits.
	done := make(chan error, 1)
	go func() {
		rc, err := bob.Open(ctx, 2)
		if err == nil {
			rc.Close()
		}
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	r2.Close()
	if err := <-done; err != nil {
		t.Fatalf("waiting Open: %v", err)
	}
	r3.Close()
	if n := len(b.(apopBackend).streams); n != 0 {
		t.Fatalf("%d streams still counted with none open", n)
	}
}
