package pop3client

import (
	"bufio"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/izyware/izypop3/internal/testkit"
)

func TestDialTLS(t *testing.T) {
	srvCfg, cliCfg := testkit.TLSConfigs(t, "")
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srvCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				conn.Write([]byte("+OK secure\r\n"))
				line, _ := bufio.NewReader(conn).ReadString('\n')
				if line == "QUIT\r\n" {
					conn.Write([]byte("+OK bye\r\n"))
				}
			}()
		}
	}()
	// ServerName is filled in from the address (an IP here).
	c, err := DialTLS(ln.Addr().String(), &Options{TLSConfig: cliCfg})
	if err != nil {
		t.Fatal(err)
	}
	if !c.TLS() || c.Greeting() != "secure" {
		t.Errorf("TLS = %v, greeting %q", c.TLS(), c.Greeting())
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}

	// Without the trusted root the handshake fails.
	if _, err := DialTLS(ln.Addr().String(), &Options{DialTimeout: 5 * time.Second}); err == nil {
		t.Error("DialTLS with an untrusted certificate succeeded")
	}
}

func TestSTLS(t *testing.T) {
	srvCfg, cliCfg := testkit.TLSConfigs(t, "")
	cliCfg.ServerName = "pop.test"
	cc, sc := net.Pipe()
	defer cc.Close()
	done := make(chan error, 1)
	go func() {
		defer sc.Close()
		sc.Write([]byte("+OK plain\r\n"))
		br := bufio.NewReader(sc)
		if line, _ := br.ReadString('\n'); line != "STLS\r\n" {
			done <- nil
			return
		}
		sc.Write([]byte("+OK begin TLS\r\n"))
		tc := tls.Server(sc, srvCfg)
		if err := tc.Handshake(); err != nil {
			done <- err
			return
		}
		tbr := bufio.NewReader(tc)
		if line, _ := tbr.ReadString('\n'); line == "NOOP\r\n" {
			tc.Write([]byte("+OK over TLS\r\n"))
		}
		done <- nil
	}()
	c, err := NewClient(cc, &Options{TLSConfig: cliCfg})
	if err != nil {
		t.Fatal(err)
	}
	if c.TLS() {
		t.Fatal("TLS before STLS")
	}
	if err := c.STLS(); err != nil {
		t.Fatal(err)
	}
	if !c.TLS() {
		t.Error("TLS() false after STLS")
	}
	if err := c.Noop(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := c.STLS(); err == nil {
		t.Error("second STLS accepted")
	}
}
