package pop3server_test

import (
	"bufio"
	"crypto/tls"
	"errors"
	"net"
	"testing"

	"github.com/izyware/izypop3/core/pop3/pop3server"
	"github.com/izyware/izypop3/internal/testkit"
)

// TestSTLS: RFC 2595 §4. STLS is advertised only with a TLS config and
// before TLS; after the handshake the session goes on over TLS.
func TestSTLS(t *testing.T) {
	serverTLS, clientTLS := testkit.TLSConfigs(t, testHost)
	opts := testOptions(newBackend())
	opts.TLSConfig = serverTLS
	_, addr := startServer(t, opts)
	c := dial(t, addr)
	transcript(t, c, `
		S: +OK pop.test POP3 server ready
		`+capa("USER", "STLS")+`
		C: STLS x
		S: -ERR STLS takes no arguments
		C: USER bob
		S: +OK send PASS
		C: STLS
		S: +OK begin TLS negotiation
	`)
	c.startTLS(clientTLS)
	transcript(t, c, `
		`+capa("USER")+`
		C: PASS secret
		S: -ERR USER first
		C: STLS
		S: -ERR already using TLS
		C: USER bob
		C: PASS secret
		S: +OK send PASS
		S: +OK maildrop has 3 messages (101 octets)
		C: STLS
		S: -ERR command not valid in this state
		C: QUIT
		S: +OK bye (3 messages left)
	`)
}

// TestSTLSInjection: commands pipelined behind STLS in the clear are
// refused (they would otherwise run as if sent over TLS).
func TestSTLSInjection(t *testing.T) {
	serverTLS, _ := testkit.TLSConfigs(t, testHost)
	opts := testOptions(newBackend())
	opts.TLSConfig = serverTLS
	_, addr := startServer(t, opts)
	c := dial(t, addr)
	c.line()
	c.send("STLS\r\nUSER bob")
	c.expect("-ERR STLS must be the last command sent in the clear", "+OK send PASS")
}

// TestServeTLS: implicit TLS (POP3S).
func TestServeTLS(t *testing.T) {
	serverTLS, clientTLS := testkit.TLSConfigs(t, testHost)
	opts := testOptions(newBackend())
	opts.TLSConfig = serverTLS
	srv := pop3server.New(opts)
	l := testkit.Listen(t)
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(l) }()
	defer func() {
		srv.Close()
		if err := <-done; !errors.Is(err, pop3server.ErrServerClosed) {
			t.Errorf("ServeTLS = %v", err)
		}
	}()
	tc, err := tls.Dial("tcp", l.Addr().String(), clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	c := &client{t: t, conn: tc, br: bufio.NewReader(tc)}
	c.login()
	c.send("CAPA")
	c.expect(capaReply()...)
	l2, _ := net.Listen("tcp", "127.0.0.1:0")
	if err := pop3server.New(testOptions(newBackend())).ServeTLS(l2); err == nil {
		t.Error("ServeTLS without TLSConfig = nil")
	}
}
