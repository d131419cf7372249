package pop3client

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/izyware/izypop3/core/pop3"
	"github.com/izyware/izypop3/core/pop3/wire"
)

// Limits and defaults.
const (
	// MaxReplyLine is the longest status line or listing line (CAPA, LIST,
	// UIDL) accepted, in octets without the line end. RFC 2449 §4 limits
	// responses to 512 octets (wire.MaxResponseLine); real servers send
	// longer greetings and capability lines, so the client allows 16 times
	// that before it declares the server broken.
	MaxReplyLine = 8192

	// DefaultMaxDataLine is the default for Options.MaxDataLine: the longest
	// line of message data (RETR, TOP) accepted, excluding its line end.
	// RFC 5322 §2.1.1 limits lines to 998 octets, but real mail breaks that
	// (unwrapped base64, HTML on one line); 1 MiB tolerates such mail and
	// still stops a server that never sends a line end.
	DefaultMaxDataLine = 1 << 20

	// DefaultTimeout is the default for Options.Timeout.
	DefaultTimeout = 2 * time.Minute

	// DefaultDialTimeout is the default for Options.DialTimeout.
	DefaultDialTimeout = 30 * time.Second

	// readBufferSize is the size of the connection's read buffer; large
	// enough that a message streams in few reads.
	readBufferSize = 64 << 10
)

// ErrProtocol is wrapped by the errors returned when the server's reply is
// not valid POP3 (and by a line longer than its limit). The client is
// unusable afterwards.
var ErrProtocol = errors.New("pop3client: protocol error")

// ErrClosed is returned by calls made after Close or Quit.
var ErrClosed = errors.New("pop3client: client closed")

// Options tunes a Client. The zero value (or nil) gives the defaults. The
// struct is copied: later changes have no effect.
type Options struct {
	// DialTimeout bounds connecting and the TLS handshake of DialTLS (the
	// greeting is then awaited under Timeout). Zero means
	// DefaultDialTimeout (30 s); negative means no limit.
	DialTimeout time.Duration

	// Timeout bounds every wait on the server: writing a command and each
	// read while waiting for a reply or for more message data. The read
	// deadline is renewed on each read, so a long message on a slow link is
	// fine as long as data keeps coming. Zero means DefaultTimeout (2 min);
	// negative means no limit.
	Timeout time.Duration

	// MaxDataLine is the longest line of message data (RETR, TOP) accepted,
	// in octets without the line end. Zero means DefaultMaxDataLine (1 MiB).
	MaxDataLine int

	// TLSConfig is used by DialTLS and STLS. Nil means a default
	// configuration whose ServerName is the host of the dialled address.
	// A config without ServerName (and without InsecureSkipVerify) gets the
	// dialled host filled in (on a copy). A client made by NewClient knows
	// no address: give ServerName here before calling STLS.
	TLSConfig *tls.Config

	// Debug, if set, receives a transcript: every command ("C: ...") and
	// every status and listing line ("S: ...") as one line each, message
	// data as one summary line. Secrets are masked: the PASS argument, the
	// APOP digest and every AUTH response (RFC 5034) are written as "****";
	// the server's AUTH challenges are shown. Default: none.
	Debug io.Writer
}

func (o *Options) withDefaults() Options {
	var out Options
	if o != nil {
		out = *o
	}
	if out.DialTimeout == 0 {
		out.DialTimeout = DefaultDialTimeout
	}
	if out.Timeout == 0 {
		out.Timeout = DefaultTimeout
	}
	if out.MaxDataLine <= 0 {
		out.MaxDataLine = DefaultMaxDataLine
	}
	return out
}

// Client is a connection to a POP3 server.
type Client struct {
	conn      net.Conn
	br        *bufio.Reader
	lr        *wire.LineReader // status and listing lines, over br
	bw        *bufio.Writer
	opts      Options
	host      string // for the TLS ServerName, "" if unknown
	greeting  string // text of the greeting after "+OK"
	timestamp string // APOP timestamp from the greeting, "" if none
	isTLS     bool

	// pending is the data reader of a RETR or TOP whose body has not been
	// read to its end yet; it is drained before the next command.
	pending *dataReader
	// err is the sticky fatal error; once set every call returns it.
	err error

	closeOnce sync.Once
}

// Dial connects to a POP3 server at addr ("host:port") in clear text and
// reads its greeting. Use STLS to upgrade, or DialTLS for implicit TLS
// (port 995).
func Dial(addr string, opts *Options) (*Client, error) {
	o := opts.withDefaults()
	conn, err := dialer(o).Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return newClient(conn, addr, o, false)
}

// DialTLS connects to a POP3 server at addr ("host:port") with implicit TLS
// (RFC 8314; port 995) and reads its greeting.
func DialTLS(addr string, opts *Options) (*Client, error) {
	o := opts.withDefaults()
	host, _, _ := net.SplitHostPort(addr)
	conn, err := (&tls.Dialer{NetDialer: dialer(o), Config: tlsConfig(o.TLSConfig, host)}).Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return newClient(conn, addr, o, true)
}

// NewClient wraps an established connection (clear or already TLS) and
// reads the server's greeting. On error the connection is closed.
func NewClient(conn net.Conn, opts *Options) (*Client, error) {
	_, isTLS := conn.(*tls.Conn)
	return newClient(conn, "", opts.withDefaults(), isTLS)
}

func dialer(o Options) *net.Dialer {
	d := &net.Dialer{}
	if o.DialTimeout > 0 {
		d.Timeout = o.DialTimeout
	}
	return d
}

func tlsConfig(cfg *tls.Config, host string) *tls.Config {
	if cfg == nil {
		return &tls.Config{ServerName: host}
	}
	if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	return cfg
}

func newClient(conn net.Conn, addr string, o Options, isTLS bool) (*Client, error) {
	c := &Client{opts: o, isTLS: isTLS}
	if addr != "" {
		c.host, _, _ = net.SplitHostPort(addr)
	}
	c.setConn(conn)
	text, err := c.readStatus()
	if err != nil {
		c.Close()
		return nil, err
	}
	c.greeting = text
	c.timestamp = apopTimestamp(text)
	return c, nil
}

func (c *Client) setConn(conn net.Conn) {
	c.conn = conn
	c.br = bufio.NewReaderSize(deadlineReader{c}, readBufferSize)
	c.lr = wire.NewLineReader(c.br, MaxReplyLine)
	c.bw = bufio.NewWriter(conn)
}

// deadlineReader renews the read deadline before every read of the
// connection, so Options.Timeout is an idle timeout.
type deadlineReader struct{ c *Client }

func (d deadlineReader) Read(p []byte) (int, error) {
	if t := d.c.opts.Timeout; t > 0 {
		d.c.conn.SetReadDeadline(time.Now().Add(t))
	}
	return d.c.conn.Read(p)
}

// apopTimestamp returns the "<...>" timestamp of an APOP-capable greeting
// (RFC 1939 §7), or "" if there is none.
func apopTimestamp(greeting string) string {
	i := strings.IndexByte(greeting, '<')
	if i < 0 {
		return ""
	}
	j := strings.IndexByte(greeting[i:], '>')
	if j < 2 {
		return ""
	}
	ts := greeting[i : i+j+1]
	if strings.ContainsAny(ts, " \t") {
		return ""
	}
	return ts
}

// Greeting returns the text of the server's greeting (after "+OK ").
func (c *Client) Greeting() string { return c.greeting }

// APOPTimestamp returns the timestamp the greeting carried (with its angle
// brackets), or "" if the server does not offer APOP.
func (c *Client) APOPTimestamp() string { return c.timestamp }

// TLS reports whether the connection is encrypted.
func (c *Client) TLS() bool { return c.isTLS }

// Conn returns the underlying connection.
func (c *Client) Conn() net.Conn { return c.conn }

// Close closes the connection without QUIT: the server must not apply any
// DELE (RFC 1939 §6). It may be called from another goroutine to abort a
// call in progress, and more than once.
func (c *Client) Close() error {
	var err error
	c.closeOnce.Do(func() { err = c.conn.Close() })
	return err
}

// fail records a fatal error, closes the connection and returns err.
func (c *Client) fail(err error) error {
	if c.err == nil {
		c.err = err
	}
	c.Close()
	return err
}

func protocolErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrProtocol}, args...)...)
}

// readLine reads one line of at most MaxReplyLine octets and returns it
// without its line end (CRLF or bare LF). Errors are fatal.
func (c *Client) readLine() (string, error) {
	line, err := c.lr.ReadLine()
	switch {
	case err == nil:
		c.debugf("S: %s", line)
		return line, nil
	case errors.Is(err, wire.ErrLineTooLong):
		return "", c.fail(fmt.Errorf("%w: %w", ErrProtocol, err))
	case errors.Is(err, io.EOF):
		return "", c.fail(fmt.Errorf("pop3client: connection closed by server: %w", io.ErrUnexpectedEOF))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "", c.fail(fmt.Errorf("pop3client: connection closed in the middle of a line: %w", err))
	}
	return "", c.fail(err)
}

// parseStatus parses a status line ("+OK text" or "-ERR [CODE] text"). It
// returns the text after "+OK" for a positive reply, a *pop3.Error for a
// negative one and an error wrapping ErrProtocol for anything else. The
// indicators are matched without regard to case (RFC 1939 §3 asks for upper
// case; being lenient costs nothing).
func parseStatus(line string) (string, error) {
	switch {
	case hasIndicator(line, "+OK"):
		return strings.TrimLeft(line[3:], " "), nil
	case hasIndicator(line, "-ERR"):
		return "", pop3.ParseError(line[4:])
	}
	return "", protocolErrorf("not a status line: %q", truncate(line, 64))
}

// hasIndicator reports whether line starts with ind (any case) followed by
// the end of the line or a space.
func hasIndicator(line, ind string) bool {
	if len(line) < len(ind) || !strings.EqualFold(line[:len(ind)], ind) {
		return false
	}
	return len(line) == len(ind) || line[len(ind)] == ' '
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// readStatus reads a status line. A negative reply is returned as a
// *pop3.Error and is not fatal.
func (c *Client) readStatus() (string, error) {
	line, err := c.readLine()
	if err != nil {
		return "", err
	}
	text, err := parseStatus(line)
	if errors.Is(err, ErrProtocol) {
		return "", c.fail(err)
	}
	return text, err
}

// ready checks the client is usable and finishes a pending data reply.
func (c *Client) ready() error {
	if c.err != nil {
		return c.err
	}
	if d := c.pending; d != nil {
		c.pending = nil
		if err := d.drain(); err != nil {
			return err
		}
	}
	return nil
}

// validArg rejects arguments that would break the command line.
func validArg(s string) error {
	if strings.ContainsAny(s, "\r\n\x00") {
		return errors.New("pop3client: argument contains CR, LF or NUL")
	}
	return nil
}

// send writes one command line and flushes it.
func (c *Client) send(line string) error {
	return c.sendMasked(line, line)
}

// sendMasked writes one command line and flushes it; the transcript shows
// shown instead of line.
func (c *Client) sendMasked(line, shown string) error {
	if err := c.ready(); err != nil {
		return err
	}
	c.setWriteDeadline()
	c.debugf("C: %s", shown)
	c.bw.WriteString(line)
	c.bw.WriteString("\r\n")
	if err := c.bw.Flush(); err != nil {
		return c.fail(err)
	}
	return nil
}

func (c *Client) setWriteDeadline() {
	if t := c.opts.Timeout; t > 0 {
		c.conn.SetWriteDeadline(time.Now().Add(t))
	}
}

// debugf writes one transcript line to Options.Debug, if set.
func (c *Client) debugf(format string, args ...any) {
	if c.opts.Debug != nil {
		fmt.Fprintf(c.opts.Debug, format+"\n", args...)
	}
}

// masked is what the transcript shows for a secret.
const masked = "****"

// cmd sends a command and reads its status line.
func (c *Client) cmd(format string, args ...any) (string, error) {
	if err := c.send(fmt.Sprintf(format, args...)); err != nil {
		return "", err
	}
	return c.readStatus()
}

// readListing reads the lines of a multi-line reply up to the terminating
// "." line, un-stuffing them (RFC 1939 §3), for CAPA, LIST and UIDL.
func (c *Client) readListing() ([]string, error) {
	var lines []string
	for {
		line, err := c.readLine()
		if err != nil {
			return nil, err
		}
		if line == "." {
			return lines, nil
		}
		lines = append(lines, strings.TrimPrefix(line, "."))
	}
}

// Capabilities is the answer to CAPA: capability name (upper case) → its
// arguments.
type Capabilities map[string][]string

// Has reports whether the capability name (any case) is present.
func (c Capabilities) Has(name string) bool {
	_, ok := c[strings.ToUpper(name)]
	return ok
}

// Capa sends CAPA (RFC 2449 §5). A server without CAPA answers -ERR, which
// is returned as a *pop3.Error.
func (c *Client) Capa() (Capabilities, error) {
	if _, err := c.cmd("CAPA"); err != nil {
		return nil, err
	}
	lines, err := c.readListing()
	if err != nil {
		return nil, err
	}
	caps := make(Capabilities, len(lines))
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		caps[strings.ToUpper(f[0])] = f[1:]
	}
	return caps, nil
}

// STLS upgrades the connection to TLS (RFC 2595 §4) with Options.TLSConfig.
// The server forgets what it knew; call Capa again if needed.
func (c *Client) STLS() error {
	if c.isTLS {
		return errors.New("pop3client: connection is already TLS")
	}
	if _, err := c.cmd("STLS"); err != nil {
		return err
	}
	if c.br.Buffered() > 0 {
		// Data sent before the handshake could be injected by an attacker.
		return c.fail(protocolErrorf("server sent data after the STLS reply"))
	}
	tc := tls.Client(c.conn, tlsConfig(c.opts.TLSConfig, c.host))
	if t := c.opts.Timeout; t > 0 {
		tc.SetDeadline(time.Now().Add(t))
	}
	if err := tc.Handshake(); err != nil {
		return c.fail(err)
	}
	tc.SetDeadline(time.Time{})
	c.setConn(tc)
	c.isTLS = true
	return nil
}

// User sends USER name.
func (c *Client) User(name string) error {
	if err := validArg(name); err != nil {
		return err
	}
	_, err := c.cmd("USER %s", name)
	return err
}

// Pass sends PASS password. The password may contain spaces (RFC 1939 §7).
func (c *Client) Pass(password string) error {
	if err := validArg(password); err != nil {
		return err
	}
	if err := c.sendMasked("PASS "+password, "PASS "+masked); err != nil {
		return err
	}
	_, err := c.readStatus()
	return err
}

// Login authenticates with USER and PASS.
func (c *Client) Login(user, password string) error {
	if err := validArg(password); err != nil {
		return err
	}
	if err := c.User(user); err != nil {
		return err
	}
	return c.Pass(password)
}

// APOP authenticates with APOP (RFC 1939 §7): the digest is
// hex(MD5(timestamp + secret)) over the greeting's timestamp. It fails
// without sending anything if the greeting carried no timestamp.
func (c *Client) APOP(user, secret string) error {
	if c.timestamp == "" {
		return errors.New("pop3client: the server does not offer APOP (no timestamp in the greeting)")
	}
	if err := validArg(user); err != nil {
		return err
	}
	if strings.ContainsAny(user, " \t") {
		return errors.New("pop3client: APOP user name contains white space")
	}
	sum := md5.Sum([]byte(c.timestamp + secret))
	if err := c.sendMasked("APOP "+user+" "+hex.EncodeToString(sum[:]), "APOP "+user+" "+masked); err != nil {
		return err
	}
	_, err := c.readStatus()
	return err
}

// SASLClient is the client half of a SASL mechanism (RFC 4422), shaped
// like github.com/emersion/go-sasl's sasl.Client, so that go-sasl's clients
// and those of core/auth/sasl can be passed to Auth directly.
type SASLClient interface {
	// Start returns the mechanism name and the initial response: nil for
	// none, an empty non-nil slice for an empty one.
	Start() (mech string, ir []byte, err error)
	// Next answers a challenge of the server. An error cancels the
	// exchange.
	Next(challenge []byte) (response []byte, err error)
}

// maxAuthLine is the longest AUTH command line sent with its initial
// response: RFC 5034 §4 keeps the AUTH line within the 255 octets of
// RFC 2449 §4; a longer initial response is sent after an empty
// challenge instead.
const maxAuthLine = 255

// Auth authenticates with AUTH (RFC 5034) and the mechanism a. The initial
// response goes on the AUTH line ("=" when it is empty) when the line stays
// within 255 octets, otherwise as the answer to the server's first (empty)
// challenge. Each challenge is passed to a.Next; when Next fails, Auth
// cancels the exchange with "*", reads the server's -ERR and returns Next's
// error. A refusal by the server is returned as a *pop3.Error (code AUTH
// for wrong credentials, RFC 3206). Nothing of the exchange (it holds
// passwords or tokens) appears in the errors returned.
func (c *Client) Auth(a SASLClient) error {
	mech, ir, err := a.Start()
	if err != nil {
		return err
	}
	if mech == "" || strings.ContainsAny(mech, " \r\n\x00") {
		return fmt.Errorf("pop3client: invalid SASL mechanism name %q", mech)
	}
	line := "AUTH " + mech
	pendingIR := false
	if ir != nil {
		enc := base64.StdEncoding.EncodeToString(ir)
		if enc == "" {
			enc = "="
		}
		if len(line)+1+len(enc)+2 <= maxAuthLine {
			line += " " + enc
		} else {
			pendingIR = true
		}
	}
	shown := "AUTH " + mech
	if line != shown {
		shown += " " + masked // the initial response holds the credentials
	}
	if err := c.sendMasked(line, shown); err != nil {
		return err
	}
	for {
		l, err := c.readLine()
		if err != nil {
			return err
		}
		if l != "+" && !strings.HasPrefix(l, "+ ") {
			_, serr := parseStatus(l)
			if errors.Is(serr, ErrProtocol) {
				return c.fail(serr)
			}
			return serr // nil for +OK
		}
		var resp []byte
		if pendingIR {
			pendingIR = false
			resp = ir
		} else {
			challenge, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(strings.TrimPrefix(l, "+")))
			if derr != nil {
				c.cancelAuth()
				return c.fail(protocolErrorf("AUTH challenge is not base64"))
			}
			var nerr error
			if resp, nerr = a.Next(challenge); nerr != nil {
				if err := c.cancelAuth(); err != nil && !isPOP3Error(err) {
					return err
				}
				return nerr
			}
		}
		if err := c.sendMasked(base64.StdEncoding.EncodeToString(resp), masked); err != nil {
			return err
		}
	}
}

// cancelAuth sends "*" (RFC 5034 §4) and reads the server's answer, which
// must be a status line.
func (c *Client) cancelAuth() error {
	if err := c.send("*"); err != nil {
		return err
	}
	_, err := c.readStatus()
	return err
}

func isPOP3Error(err error) bool {
	var pe *pop3.Error
	return errors.As(err, &pe)
}

// parseNumbers parses the first two fields of s as a message number and a
// size (STAT and LIST); further fields are ignored (RFC 1939 §5 allows
// servers to add information after them).
func parseNumbers(s string) (int, int64, error) {
	f := strings.Fields(s)
	if len(f) < 2 {
		return 0, 0, protocolErrorf("want two numbers, got %q", truncate(s, 64))
	}
	n, err1 := strconv.Atoi(f[0])
	size, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil || n < 0 || size < 0 {
		return 0, 0, protocolErrorf("want two numbers, got %q", truncate(s, 64))
	}
	return n, size, nil
}

// Stat sends STAT and returns the number of messages and their total size.
func (c *Client) Stat() (count int, size int64, err error) {
	text, err := c.cmd("STAT")
	if err != nil {
		return 0, 0, err
	}
	count, size, err = parseNumbers(text)
	if err != nil {
		return 0, 0, c.fail(err)
	}
	return count, size, nil
}

// MessageInfo is one line of LIST: a message number and its size in octets
// as the server states it.
type MessageInfo struct {
	Num  int
	Size int64
}

// MessageUID is one line of UIDL: a message number and its unique-id.
type MessageUID struct {
	Num int
	UID string
}

func checkNum(n int) error {
	if n < 1 {
		return fmt.Errorf("pop3client: message number %d: must be 1 or more", n)
	}
	return nil
}

// List sends LIST and returns every message's number and size.
func (c *Client) List() ([]MessageInfo, error) {
	if _, err := c.cmd("LIST"); err != nil {
		return nil, err
	}
	lines, err := c.readListing()
	if err != nil {
		return nil, err
	}
	out := make([]MessageInfo, 0, len(lines))
	for _, l := range lines {
		n, size, err := parseNumbers(l)
		if err != nil {
			return nil, c.fail(err)
		}
		out = append(out, MessageInfo{Num: n, Size: size})
	}
	return out, nil
}

// ListOne sends LIST n.
func (c *Client) ListOne(n int) (MessageInfo, error) {
	if err := checkNum(n); err != nil {
		return MessageInfo{}, err
	}
	text, err := c.cmd("LIST %d", n)
	if err != nil {
		return MessageInfo{}, err
	}
	num, size, err := parseNumbers(text)
	if err != nil {
		return MessageInfo{}, c.fail(err)
	}
	return MessageInfo{Num: num, Size: size}, nil
}

// parseUID parses "n uid" (UIDL); fields after the UID are ignored.
func parseUID(s string) (MessageUID, error) {
	f := strings.Fields(s)
	if len(f) < 2 {
		return MessageUID{}, protocolErrorf("want a number and a unique-id, got %q", truncate(s, 64))
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n < 0 {
		return MessageUID{}, protocolErrorf("want a number and a unique-id, got %q", truncate(s, 64))
	}
	return MessageUID{Num: n, UID: f[1]}, nil
}

// Uidl sends UIDL and returns every message's unique-id.
func (c *Client) Uidl() ([]MessageUID, error) {
	if _, err := c.cmd("UIDL"); err != nil {
		return nil, err
	}
	lines, err := c.readListing()
	if err != nil {
		return nil, err
	}
	out := make([]MessageUID, 0, len(lines))
	for _, l := range lines {
		u, err := parseUID(l)
		if err != nil {
			return nil, c.fail(err)
		}
		out = append(out, u)
	}
	return out, nil
}

// UidlOne sends UIDL n.
func (c *Client) UidlOne(n int) (MessageUID, error) {
	if err := checkNum(n); err != nil {
		return MessageUID{}, err
	}
	text, err := c.cmd("UIDL %d", n)
	if err != nil {
		return MessageUID{}, err
	}
	u, err := parseUID(text)
	if err != nil {
		return MessageUID{}, c.fail(err)
	}
	return u, nil
}

// Retr sends RETR n and returns the message, streamed and dot-unstuffed,
// with CRLF line ends (a bare LF from the server comes out as CRLF, so the
// octets are the message as POP3 defines it). Read it to io.EOF; a
// connection that ends before the terminating "." line gives an error
// wrapping io.ErrUnexpectedEOF instead. Close the reader before the next
// command (the next command does it otherwise, reading what is left).
func (c *Client) Retr(n int) (io.ReadCloser, error) {
	if err := checkNum(n); err != nil {
		return nil, err
	}
	return c.data("RETR %d", n)
}

// Top sends TOP n lines (RFC 1939 §7) and returns the header and the first
// lines lines of the body, like Retr.
func (c *Client) Top(n, lines int) (io.ReadCloser, error) {
	if err := checkNum(n); err != nil {
		return nil, err
	}
	if lines < 0 {
		return nil, fmt.Errorf("pop3client: TOP line count %d: must not be negative", lines)
	}
	return c.data("TOP %d %d", n, lines)
}

func (c *Client) data(format string, args ...any) (io.ReadCloser, error) {
	if _, err := c.cmd(format, args...); err != nil {
		return nil, err
	}
	return c.newDataReader(), nil
}

// newDataReader starts reading the data of a positive RETR or TOP reply.
func (c *Client) newDataReader() *dataReader {
	d := &dataReader{c: c}
	d.dot = &lineLimiter{r: wire.NewDotReader(c.br), max: c.opts.MaxDataLine, n: &d.n}
	c.pending = d
	return d
}

// dataReader is the body of a RETR or TOP. Errors other than io.EOF are
// fatal for the client.
type dataReader struct {
	c      *Client
	dot    io.Reader // unstuffed, line-length checked body
	closed bool
	done   bool  // read to the terminator
	n      int64 // octets of data returned or drained
}

func (d *dataReader) Read(p []byte) (int, error) {
	if d.closed {
		return 0, errors.New("pop3client: read of a closed message reader")
	}
	if d.c.err != nil && !d.done {
		return 0, d.c.err
	}
	n, err := d.dot.Read(p)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = fmt.Errorf("pop3client: connection closed before the end of the multi-line reply: %w", err)
	}
	if err == io.EOF {
		d.finish()
	} else if err != nil {
		d.c.fail(err)
	}
	return n, err
}

// drain reads the rest of the body so the connection can be used again.
func (d *dataReader) drain() error {
	if d.done {
		return nil
	}
	if d.c.err != nil {
		return d.c.err
	}
	_, err := io.Copy(io.Discard, d.dot)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = fmt.Errorf("pop3client: connection closed before the end of the multi-line reply: %w", err)
	}
	if err != nil {
		return d.c.fail(err)
	}
	d.finish()
	return nil
}

// finish records that the terminator was read.
func (d *dataReader) finish() {
	if d.done {
		return
	}
	d.done = true
	if d.c.pending == d {
		d.c.pending = nil
	}
	d.c.debugf("S: (%d octets of message data)", d.n)
	d.c.debugf("S: .")
}

// Close finishes the body: whatever was not read is read and discarded.
func (d *dataReader) Close() error {
	if d.closed {
		return nil
	}
	d.closed = true
	if d.c.pending == d {
		d.c.pending = nil
	}
	return d.drain()
}

// Dele sends DELE n. The message is removed only after a successful Quit.
func (c *Client) Dele(n int) error {
	if err := checkNum(n); err != nil {
		return err
	}
	_, err := c.cmd("DELE %d", n)
	return err
}

// Rset sends RSET: the server unmarks every message marked by DELE.
func (c *Client) Rset() error {
	_, err := c.cmd("RSET")
	return err
}

// Noop sends NOOP.
func (c *Client) Noop() error {
	_, err := c.cmd("NOOP")
	return err
}

// Quit sends QUIT, waits for the reply and closes the connection. In the
// TRANSACTION state the server applies the DELE marks before answering; a
// *pop3.Error means it could not (RFC 1939 §6), and nothing was deleted.
func (c *Client) Quit() error {
	_, err := c.cmd("QUIT")
	c.Close()
	if c.err == nil {
		c.err = ErrClosed
	}
	return err
}

// lineLimiter fails with ErrProtocol when a line of what r yields is longer
// than max octets (without its line end). The data is streamed, so this is
// not about memory: it stops a server that sends endless data without line
// ends, which no mail message is.
type lineLimiter struct {
	r       io.Reader
	max     int
	n       *int64 // counts the octets returned
	lineLen int    // octets since the last LF
	err     error
}

func (l *lineLimiter) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	n, err := l.r.Read(p)
	if l.n != nil {
		*l.n += int64(n)
	}
	// wire.DotReader ends every line with CRLF: a line of max octets is
	// max+2 with its line end, max+1 before its LF.
	for b := p[:n]; ; {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			l.lineLen += len(b)
			break
		}
		if l.lineLen+i > l.max+1 {
			l.lineLen += i
			break
		}
		l.lineLen = 0
		b = b[i+1:]
	}
	if l.lineLen > l.max+1 {
		l.err = fmt.Errorf("%w: message line longer than %d octets", ErrProtocol, l.max)
		return n, l.err
	}
	return n, err
}
