package pop3server

import (
	"context"
	"errors"
	"io"
)

// Backend is what the server needs from the outside world: checking
// credentials and opening the user's maildrop. It is implemented by
// core/storehost over any sdk.Store, and by in-memory test backends.
//
// Errors: a *pop3.Error is sent to the client as is (for example
// {Code: "AUTH"} for wrong credentials, {Code: "IN-USE"} for a locked
// maildrop); any other error is logged and answered -ERR [SYS/TEMP].
type Backend interface {
	// Login checks user/pass and returns the user's maildrop, locked for
	// this session until Mailbox.Close (RFC 1939 §8). The server keeps no
	// lock of its own: only the Backend knows which maildrop a user opens
	// (two users may share one) and how to exclude other processes, so a
	// second guard here could only duplicate or contradict it. A second
	// login to a locked maildrop gets an error with Code pop3.CodeInUse.
	Login(ctx context.Context, req LoginRequest) (Mailbox, error)
}

// LoginRequest carries the credentials of USER/PASS and the peer address.
type LoginRequest struct {
	User   string
	Pass   string
	Remote string // peer address, for logs and rate limits
}

// APOPBackend is implemented by backends that know the clear-text password
// and so can verify APOP (RFC 1939 §7). The server puts a timestamp in its
// greeting only when APOPEnabled reports true.
type APOPBackend interface {
	Backend
	APOPEnabled() bool
	// LoginAPOP verifies digest == hex(MD5(timestamp + password)).
	LoginAPOP(ctx context.Context, user, timestamp, digest, remote string) (Mailbox, error)
}

// SASLBackend is implemented by backends that offer SASL authentication
// (the AUTH command, RFC 5034).
type SASLBackend interface {
	Backend
	// SASLMechanisms lists the mechanisms the backend can run (upper-case
	// IANA names). The server offers them in CAPA, except those that send
	// a password or a bearer token in the clear (PLAIN, LOGIN,
	// OAUTHBEARER, XOAUTH2) on a connection that is neither TLS nor from
	// loopback, unless Options.AllowInsecureAuth is set.
	SASLMechanisms() []string
	// NewSASL starts an exchange of mechanism mech (one of
	// SASLMechanisms) for a client at remote. ctx ends with the exchange.
	NewSASL(ctx context.Context, mech, remote string) (SASLExchange, error)
}

// SASLServer is the server half of one SASL exchange, shaped like
// github.com/emersion/go-sasl's sasl.Server so that its servers fit as
// they are. Next gets the client's decoded response (nil when AUTH carried
// no initial response) and returns a challenge, or done.
//
// Errors are mapped like Backend errors: a *pop3.Error is sent as it is
// (code AUTH for refused credentials: the failed-login delay and limits
// apply); any other error is logged and answered -ERR [SYS/TEMP]. A
// backend therefore wraps mechanisms that return their own errors.
type SASLServer interface {
	Next(response []byte) (challenge []byte, done bool, err error)
}

// SASLExchange is one exchange started by SASLBackend.NewSASL.
type SASLExchange struct {
	// Server runs the exchange.
	Server SASLServer
	// Login opens, once Server reported done without error, the maildrop
	// of the user the exchange authenticated, locked as by Backend.Login.
	// user is the name for logs and per-user limits.
	Login func(ctx context.Context) (user string, mb Mailbox, err error)
}

// Message is one entry of the maildrop snapshot taken at login.
type Message struct {
	// UID is the message's unique-id (RFC 1939 §7 UIDL): 1..70 octets in
	// 0x21..0x7E, stable across sessions.
	UID string
	// Size is the size in octets as transmitted (CRLF line ends, final
	// CRLF, no byte-stuffing): what LIST and STAT report, and exactly what
	// RETR sends before stuffing.
	Size int64
	// WireForm says the octets Open returns are in that form already (CRLF
	// line ends only, the last line ended), as a store that knows both
	// sizes can tell: RETR and TOP then only byte-stuff them, a cheap check
	// standing in for the line-end conversion (see
	// wire.DotWriter.ResetWireForm). False: converted as usual.
	WireForm bool
}

// ErrMaildropLost is wrapped by the error of a Mailbox call when the
// session's exclusive lock on the maildrop is gone (for instance a store
// process that held it died): the server answers -ERR [SYS/TEMP] and ends
// the session at once, without UPDATE (Abandon is still called; it must
// change nothing either).
var ErrMaildropLost = errors.New("pop3server: maildrop lock lost")

// Mailbox is one user's maildrop for the life of a session.
type Mailbox interface {
	// Messages returns the snapshot of the maildrop, in message-number
	// order (message n is Messages()[n-1]). Called once after login.
	Messages(ctx context.Context) ([]Message, error)
	// Open returns the raw stored octets of message n (1 ≤ n ≤
	// len(Messages())): the maildrop order is the server's, so a backend
	// can see a run of RETRs of consecutive messages and read ahead. The
	// server converts line endings to CRLF, adds a final CRLF and
	// byte-stuffs. RETR reads the reader to its end, unless the session
	// ends on the way; TOP uses Open only when the mailbox is no TopOpener.
	// ctx (OpenTop's too) is cancelled when the call, or a Read of the
	// reader, overruns StoreTimeout, when the session ends and when the
	// server stops; it may be the ctx of the session's earlier and later
	// calls, so the end of a call or of its reader does not cancel it.
	Open(ctx context.Context, n int) (io.ReadCloser, error)
	// Update is called in the UPDATE state, after a QUIT in the TRANSACTION
	// state (RFC 1939 §6): deleted are the UIDs marked by DELE, retrieved
	// the UIDs sent whole by RETR (in order, without repeats). It is never
	// called for a session that did not end with QUIT.
	Update(ctx context.Context, deleted, retrieved []string) error
	// Abandon is called instead of Update when the session ends without
	// QUIT (connection dropped, timeout, server shutdown). retrieved are
	// the UIDs sent whole by RETR. Implementations must not delete anything.
	Abandon(ctx context.Context, retrieved []string) error
	// Close releases the maildrop lock. Called exactly once, last.
	Close() error
}

// TopOpener is implemented by mailboxes that serve TOP otherwise than RETR:
// cheaper than Open, or outside a read-ahead. OpenTop returns a prefix of
// message n's octets (as Open gives them) holding at least the header, the
// empty line and lines body lines; the server reads what TOP sends.
type TopOpener interface {
	OpenTop(ctx context.Context, n, lines int) (io.ReadCloser, error)
}
