package fetch

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/izyware/izypop3/sdk"
)

// Defaults of Options.
const (
	// DefaultWindow is the number of RETR (and DELE) commands kept in
	// flight on a server that advertises PIPELINING.
	DefaultWindow = 32
	// DefaultBatchMessages and DefaultBatchBytes bound a batch: after that
	// many messages or octets the store's durability barrier runs and the
	// batch is tagged. A crash loses at most one batch of work (it is
	// fetched again), never a message.
	DefaultBatchMessages = 500
	DefaultBatchBytes    = 64 << 20
	// DefaultMaxSessions bounds the sessions of one run on a server that
	// shows only a window of the maildrop per session.
	DefaultMaxSessions = 50
	// DefaultTimeout bounds every wait on the server (renewed while data
	// keeps coming), DefaultDialTimeout the connection and TLS handshake.
	DefaultTimeout     = 2 * time.Minute
	DefaultDialTimeout = 30 * time.Second
	// DefaultStoreTimeout bounds each store call that is not a Put (a Put
	// lasts as long as its message takes to arrive).
	DefaultStoreTimeout = 2 * time.Minute
)

// TLSMode says how the connection is secured.
type TLSMode int

const (
	TLSNone     TLSMode = iota // clear text
	TLSImplicit                // TLS from the first octet (POP3S, port 995; RFC 8314)
	TLSStartTLS                // clear text upgraded with STLS (RFC 2595); fails if the server refuses
)

// Auth mechanisms (Account.Auth). The SASL ones use AUTH (RFC 5034).
const (
	AuthUser        = "user"          // USER + PASS (RFC 1939 §7)
	AuthAPOP        = "apop"          // APOP (RFC 1939 §7), when the greeting carries a timestamp
	AuthPlain       = "plain"         // SASL PLAIN (RFC 4616)
	AuthLogin       = "login"         // SASL LOGIN
	AuthCRAMMD5     = "cram-md5"      // SASL CRAM-MD5 (RFC 2195)
	AuthSCRAMSHA256 = "scram-sha-256" // SASL SCRAM-SHA-256 (RFC 7677); the server must prove it knows the password
	AuthXOAuth2     = "xoauth2"       // SASL XOAUTH2 (Gmail, Outlook): Secret is an OAuth 2.0 access token
	AuthOAuthBearer = "oauthbearer"   // SASL OAUTHBEARER (RFC 7628): Secret is an OAuth 2.0 access token
)

// Mechanisms lists the values Account.Auth accepts.
var Mechanisms = []string{AuthUser, AuthAPOP, AuthPlain, AuthLogin, AuthCRAMMD5, AuthSCRAMSHA256, AuthXOAuth2, AuthOAuthBearer}

// Account is the remote maildrop.
type Account struct {
	// Addr is host:port of the server. Required.
	Addr string
	// User is the login name. Required.
	User string
	// Secret is the password (or, for token mechanisms, the token).
	Secret string
	// TLS is how the connection is secured. Default TLSNone.
	TLS TLSMode
	// TLSConfig is used for TLSImplicit and TLSStartTLS. Nil means the
	// system roots and the host of Addr as server name.
	TLSConfig *tls.Config
	// Auth is the mechanism (one of Mechanisms). Empty means the best the
	// server offers: SCRAM-SHA-256, CRAM-MD5, APOP, USER/PASS, PLAIN,
	// LOGIN in that order (the token mechanisms only when named).
	Auth string
}

// SourceIDPrefix is the part of the SourceID that names the account:
// "pop3://USER@HOST:PORT/" (USER escaped as a URL user name, HOST lower
// case). A message's SourceID is the prefix followed by its UIDL.
func (a Account) SourceIDPrefix() (string, error) {
	host, port, err := net.SplitHostPort(a.Addr)
	if err != nil {
		return "", fmt.Errorf("fetch: address %q: %w", a.Addr, err)
	}
	if a.User == "" {
		return "", errors.New("fetch: no user name")
	}
	return "pop3://" + url.User(a.User).String() + "@" + net.JoinHostPort(strings.ToLower(host), port) + "/", nil
}

// Mode is what Run does.
type Mode int

const (
	// ModeSync fetches every message whose UIDL the store does not hold.
	ModeSync Mode = iota
	// ModeRetr fetches the messages Options.Numbers (those the store
	// already holds are skipped), in one session.
	ModeRetr
)

// Options configures Run and Inspect. The struct is copied; zero values
// mean the documented defaults.
type Options struct {
	Account Account
	// Store receives the messages. Required by Run; Inspect uses it (when
	// set) to tell which messages are held.
	Store sdk.Store
	// Mailbox of the store the messages go to. Required with Store.
	Mailbox string

	// Mode is ModeSync (default) or ModeRetr.
	Mode Mode
	// Numbers are the message numbers of ModeRetr, in this order.
	Numbers []int
	// Delete marks for deletion on the server every message the store
	// holds (fetched by this run or an earlier one). Default false: keep.
	Delete bool
	// DeleteAfter, if positive, marks for deletion the messages the store
	// has held for longer than that (Item.Received). Default 0: none.
	DeleteAfter time.Duration
	// MaxSize skips messages whose LIST size is larger. Default 0: none
	// skipped.
	MaxSize int64
	// Limit is the most messages one run fetches. Default 0: no limit.
	Limit int
	// DryRun connects, lists and reports what would be fetched and
	// deleted (through OnMessage), and changes nothing. Default false.
	DryRun bool

	// Window is the pipelining window (commands in flight) when the server
	// advertises PIPELINING. Default DefaultWindow; 1 disables pipelining.
	Window int
	// BatchMessages and BatchBytes bound a batch (see the package doc).
	// Defaults DefaultBatchMessages and DefaultBatchBytes.
	BatchMessages int
	BatchBytes    int64
	// MaxSessions bounds the sessions of one ModeSync run. Default
	// DefaultMaxSessions.
	MaxSessions int
	// Timeout and DialTimeout bound waits on the server. Defaults
	// DefaultTimeout and DefaultDialTimeout.
	Timeout, DialTimeout time.Duration
	// StoreTimeout bounds each store call other than Put. Default
	// DefaultStoreTimeout.
	StoreTimeout time.Duration

	// Logger receives the job's log. Default: discard. Secrets are never
	// logged.
	Logger *slog.Logger
	// Debug, if set, receives the POP3 transcript with secrets masked.
	Debug io.Writer
	// OnPlan, if set, is called at the start of each session with what it
	// will fetch.
	OnPlan func(Plan)
	// OnMessage, if set, is called once per message the run deals with
	// (fetched, skipped, failed, deleted, or in a dry run would be). Calls
	// come from one goroutine at a time.
	OnMessage func(Event)
	// OnProgress, if set, is called after each message received and put
	// into the store (before its batch's barrier), from the same goroutine
	// as OnMessage.
	OnProgress func(Progress)
	// Stop, when closed, makes the run finish the message in progress,
	// tag and delete what is done, QUIT and return (SIGTERM).
	Stop <-chan struct{}
	// Dial, if set, replaces net.Dialer for the TCP connection (tests).
	Dial func(ctx context.Context, addr string) (net.Conn, error)
}

func (o *Options) withDefaults() Options {
	out := *o
	if out.Window <= 0 {
		out.Window = DefaultWindow
	}
	if out.BatchMessages <= 0 {
		out.BatchMessages = DefaultBatchMessages
	}
	if out.BatchBytes <= 0 {
		out.BatchBytes = DefaultBatchBytes
	}
	if out.MaxSessions <= 0 {
		out.MaxSessions = DefaultMaxSessions
	}
	if out.Timeout == 0 {
		out.Timeout = DefaultTimeout
	}
	if out.DialTimeout == 0 {
		out.DialTimeout = DefaultDialTimeout
	}
	if out.StoreTimeout <= 0 {
		out.StoreTimeout = DefaultStoreTimeout
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	return out
}

// Plan is what a session is about to do.
type Plan struct {
	Session    int   // 1 for the first session of the run
	Messages   int   // in the maildrop
	Fetch      int   // to be fetched
	FetchBytes int64 // their LIST sizes
}

// Outcome is what happened to one message.
type Outcome string

const (
	Stored          Outcome = "stored"          // fetched and tagged unread
	Dup             Outcome = "dup"             // fetched; same content already held: tagged dup
	ConversionError Outcome = "conversionerror" // fetched; not parseable: tagged conversionerror
	Held            Outcome = "held"            // the store already holds it: not fetched
	TooBig          Outcome = "toobig"          // larger than MaxSize: not fetched
	Failed          Outcome = "failed"          // not stored (Event.Err says why); fetched again next run
	Deleted         Outcome = "deleted"         // marked with DELE and removed by QUIT
	WouldFetch      Outcome = "wouldfetch"      // dry run
	WouldDelete     Outcome = "woulddelete"     // dry run
)

// Event reports one message's outcome.
type Event struct {
	Outcome Outcome
	Num     int    // message number in its session
	UIDL    string // "" if the server has no UIDL
	Size    int64  // octets stored (or the LIST size if not fetched)
	UID     string // the store's UID, if stored
	Err     error  // for Failed
}

// Summary counts the outcomes of a run.
type Summary struct {
	Stored, Dup, ConversionError int // newly stored, by tag
	Held, TooBig, Failed         int
	Deleted                      int
	WouldFetch, WouldDelete      int   // dry run
	Bytes                        int64 // octets stored
	Sessions                     int
	Elapsed                      time.Duration
}

// Fetched is the number of messages newly stored.
func (s Summary) Fetched() int { return s.Stored + s.Dup + s.ConversionError }

func (s *Summary) add(e Event) {
	switch e.Outcome {
	case Stored:
		s.Stored++
	case Dup:
		s.Dup++
	case ConversionError:
		s.ConversionError++
	case Held:
		s.Held++
	case TooBig:
		s.TooBig++
	case Failed:
		s.Failed++
	case Deleted:
		s.Deleted++
	case WouldFetch:
		s.WouldFetch++
	case WouldDelete:
		s.WouldDelete++
	}
	switch e.Outcome {
	case Stored, Dup, ConversionError:
		s.Bytes += e.Size
	}
}

// Kind classifies the error that ended a run (for exit codes).
type Kind int

const (
	KindOther    Kind = iota
	KindAuth          // the server refused the credentials
	KindNetwork       // connection, TLS or protocol failure
	KindStore         // the store failed
	KindPartial       // the run finished, but some messages failed
	KindProtocol      // the server lacks something the job needs (UIDL)
)

func (k Kind) String() string {
	switch k {
	case KindAuth:
		return "auth"
	case KindNetwork:
		return "network"
	case KindStore:
		return "store"
	case KindPartial:
		return "partial"
	case KindProtocol:
		return "protocol"
	}
	return "other"
}

// Error is the error a run ends with.
type Error struct {
	Kind Kind
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the Kind of err (KindOther for errors not from this
// package).
func KindOf(err error) Kind {
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Kind
	}
	return KindOther
}

func errorf(k Kind, format string, args ...any) error {
	return &Error{Kind: k, Err: fmt.Errorf(format, args...)}
}
