package testkit

import (
	"net"
	"strconv"
	"testing"
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
