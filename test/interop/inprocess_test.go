package interop

import (
	"fmt"
	"net"
	"testing"

	"github.com/izyware/izypop3/core/pop3/pop3server"
	"github.com/izyware/izypop3/core/pop3/pop3server/memback"
	"github.com/izyware/izypop3/internal/testkit"
)

// TestPeersAgainstPop3server runs every peer against the POP3 server
// package in-process over the in-memory backend (no CLI, no plugin): the
// protocol layer alone, with APOP enabled (curl then logs in with APOP).
func TestPeersAgainstPop3server(t *testing.T) {
	msgs := sampleMessages()
	eachPeer(t, func(t *testing.T, peer string) target {
		const user = "inproc"
		be := memback.New()
		be.AddUser(user, testPassword)
		be.SetAPOP(true)
		tg := target{Name: "pop3server-memback", User: user, Pass: testPassword, Ordered: true}
		for i, m := range msgs {
			uid := fmt.Sprintf("uid-%03d", i+1)
			be.Add(user, uid, m)
			w := testkit.WireForm(m)
			tg.Msgs = append(tg.Msgs, expectedMsg{UID: uid, Wire: w, ListSize: int64(len(w))})
		}
		l := testkit.Listen(t)
		srv := pop3server.New(&pop3server.Options{Backend: be, Hostname: "interop.test"})
		go srv.Serve(l)
		t.Cleanup(func() { srv.Close() })
		tg.Port = l.Addr().(*net.TCPAddr).Port
		return tg
	})
}
