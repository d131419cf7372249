package testkit

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Listen returns a TCP listener on a free port of 127.0.0.1, closed when
// the test ends.
func Listen(tb testing.TB) net.Listener {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	return l
}

// FreePort returns a TCP port of 127.0.0.1 that was free a moment ago, for
// a program that opens the port itself.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return Port(l.Addr())
}

// Port returns the port of a TCP address.
func Port(a net.Addr) int {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.Port
	}
	_, p, _ := net.SplitHostPort(a.String())
	n, _ := strconv.Atoi(p)
	return n
}

// Addr returns "127.0.0.1:port".
func Addr(port int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// FreePortE is FreePort for a program outside a test (a benchmark).
func FreePortE() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return Port(l.Addr()), nil
}

// Greeting connects to a POP3 server at addr, reads its +OK greeting and
// sends QUIT: whether the server is up and answering.
func Greeting(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+OK") {
		return fmt.Errorf("greeting %q", line)
	}
	fmt.Fprintf(c, "QUIT\r\n")
	return nil
}
