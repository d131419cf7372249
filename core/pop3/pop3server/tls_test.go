package pop3server_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/izyware/izypop3/core/pop3/pop3server"
)

// testTLS returns a server config with a fresh self-signed certificate
// for 127.0.0.1 and a client config trusting it.
func testTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "pop.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"pop.test"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		&tls.Config{RootCAs: pool, ServerName: "pop.test"}
}

// TestSTLS: RFC 2595 §4. STLS is advertised only with a TLS config and
// before TLS; after the handshake the session goes on over TLS.
func TestSTLS(t *testing.T) {
	serverTLS, clientTLS := testTLS(t)
	opts := testOptions(newBackend())
	opts.TLSConfig = serverTLS
	_, addr := startServer(t, opts)
	c := dial(t, addr)
	transcript(t, c, `
		S: +OK pop.test POP3 server ready
		C: CAPA
		S: +OK capability list follows
		S: TOP
		S: UIDL
		S: RESP-CODES
		S: AUTH-RESP-CODE
		S: PIPELINING
		S: USER
		S: STLS
		S: IMPLEMENTATION izypop3
		S: .
		C: STLS x
		S: -ERR STLS takes no arguments
		C: USER bob
		S: +OK send PASS
		C: STLS
		S: +OK begin TLS negotiation
	`)
	tc := tls.Client(c.conn, clientTLS)
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	c.conn = tc
	c.br = bufio.NewReader(tc)
	transcript(t, c, `
		C: CAPA
		S: +OK capability list follows
		S: TOP
		S: UIDL
		S: RESP-CODES
		S: AUTH-RESP-CODE
		S: PIPELINING
		S: USER
		S: IMPLEMENTATION izypop3
		S: .
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
	serverTLS, _ := testTLS(t)
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
	serverTLS, clientTLS := testTLS(t)
	opts := testOptions(newBackend())
	opts.TLSConfig = serverTLS
	srv := pop3server.New(opts)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
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
	c.expect("+OK capability list follows", "TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "IMPLEMENTATION izypop3", ".")
	l2, _ := net.Listen("tcp", "127.0.0.1:0")
	if err := pop3server.New(testOptions(newBackend())).ServeTLS(l2); err == nil {
		t.Error("ServeTLS without TLSConfig = nil")
	}
}
