package pop3server

import "time"

// Observer receives what the server does, for metrics. Its methods are
// called from the session goroutines: they must be safe for concurrent use
// and return quickly. Options.Observer nil means none.
type Observer interface {
	// SessionStarted and SessionEnded bracket each connection.
	SessionStarted()
	SessionEnded()
	// Command reports one command line after its reply is buffered: name
	// is the command as the client sent it, upper-cased (a client may send
	// anything: bound the names you keep), d the time it took (for RETR and
	// TOP, the whole message streamed), err nil for a positive reply, else
	// the error answered (a *pop3.Error, or any other error answered
	// -ERR [SYS/TEMP], or the connection broke). A line that does not
	// parse as a command is reported with name "".
	Command(name string, d time.Duration, err error)
	// BytesSent reports octets written to a client (after TLS
	// decryption, before encryption: what the protocol sent).
	BytesSent(n int)
}

// nopObserver is the Observer of a server without one.
type nopObserver struct{}

func (nopObserver) SessionStarted()                      {}
func (nopObserver) SessionEnded()                        {}
func (nopObserver) Command(string, time.Duration, error) {}
func (nopObserver) BytesSent(int)                        {}
