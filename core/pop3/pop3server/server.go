package pop3server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/izyware/izypop3/core/pop3/wire"
)

// Defaults and limits. Each has a test.
const (
	// DefaultAuthTimeout is the idle timeout in the AUTHORIZATION state:
	// short, since nobody is logged in yet.
	DefaultAuthTimeout = 60 * time.Second
	// DefaultIdleTimeout is the idle timeout after login. RFC 1939 §3: an
	// inactivity autologout timer must be at least 10 minutes.
	DefaultIdleTimeout = 10 * time.Minute
	// DefaultWriteTimeout bounds each write to the connection (one chunk
	// of a streamed message, or one flushed reply).
	DefaultWriteTimeout = 60 * time.Second
	// DefaultStoreTimeout bounds each Backend/Mailbox call, and each read
	// from a message being streamed.
	DefaultStoreTimeout = 60 * time.Second
	// DefaultMaxErrors is how many protocol errors (unknown commands, bad
	// syntax, bad arguments, failed logins) a session may make before it
	// is disconnected.
	DefaultMaxErrors = 10
	// DefaultAuthFailDelay is the pause before answering a failed login.
	DefaultAuthFailDelay = time.Second
	// DefaultImplementation is the CAPA IMPLEMENTATION text.
	DefaultImplementation = "izypop3"

	// readBufferSize is the per-connection input buffer; it holds a few
	// pipelined command lines of wire.MaxCommandLine octets. Small, so
	// that idle sessions stay cheap.
	readBufferSize = 1024
	// writeBufferSize is the per-connection buffer for short replies.
	writeBufferSize = 4096
	// streamBufferSize is the buffer used while streaming RETR/TOP; taken
	// from a pool for the length of the command.
	streamBufferSize = 64 << 10
	// cleanupTimeout bounds Abandon/Update/Close at the end of a session
	// when the server is closing.
	cleanupTimeout = 30 * time.Second
	// farewellTimeout bounds the last line written to a peer we drop.
	farewellTimeout = 2 * time.Second
)

// ErrServerClosed is returned by Serve after Close or Shutdown.
var ErrServerClosed = errors.New("pop3server: server closed")

// Options configures a Server. New copies it; the zero value of each field
// means its default.
type Options struct {
	// Backend checks credentials and opens maildrops. Required.
	Backend Backend
	// Logger receives structured, credential-free logs (fields remote,
	// session, user, cmd). Default: discard.
	Logger *slog.Logger
	// TLSConfig enables STLS (RFC 2595) and ServeTLS. Default nil: no TLS,
	// STLS is neither advertised nor accepted. A MinVersion below TLS 1.2
	// is raised to it.
	TLSConfig *tls.Config
	// Hostname appears in the greeting and the APOP timestamp. Default:
	// os.Hostname(), or "localhost".
	Hostname string
	// Implementation is the CAPA IMPLEMENTATION text. Default
	// DefaultImplementation.
	Implementation string
	// AuthTimeout is the idle timeout before login. Default
	// DefaultAuthTimeout (60 s).
	AuthTimeout time.Duration
	// IdleTimeout is the idle timeout after login. Default
	// DefaultIdleTimeout (10 min, the RFC 1939 minimum); smaller values
	// are allowed for tests.
	IdleTimeout time.Duration
	// WriteTimeout bounds each write to a connection. Default
	// DefaultWriteTimeout (60 s).
	WriteTimeout time.Duration
	// StoreTimeout bounds each Backend and Mailbox call and each read of a
	// streamed message. Default DefaultStoreTimeout (60 s).
	StoreTimeout time.Duration
	// MaxLineLength is the longest command line accepted, in octets
	// without CRLF. Default and minimum wire.MaxCommandLine (255, RFC 2449
	// §4).
	MaxLineLength int
	// MaxErrors is how many protocol errors end a session. Default
	// DefaultMaxErrors (10).
	MaxErrors int
	// AuthFailDelay is the pause before a failed login is answered.
	// Default DefaultAuthFailDelay (1 s); negative means no delay.
	AuthFailDelay time.Duration
	// MaxAuthFailDelay caps the failed-login delay, which doubles with each
	// failure from the same remote address. Default
	// DefaultMaxAuthFailDelay (15 s).
	MaxAuthFailDelay time.Duration
	// MaxAuthFailures is how many failed logins one connection may make
	// before it is closed. Default DefaultMaxAuthFailures (3).
	MaxAuthFailures int
	// MaxAuthTime bounds the AUTHORIZATION state as a whole (TLS handshake
	// included), whatever the client sends. Default DefaultMaxAuthTime
	// (2 min).
	MaxAuthTime time.Duration
	// TLSHandshakeTimeout bounds each TLS handshake. Default
	// DefaultTLSHandshakeTimeout (15 s).
	TLSHandshakeTimeout time.Duration
	// MaxConns is the most connections served at once; more are answered
	// -ERR [SYS/TEMP] and closed (closed at once on implicit TLS, where
	// the line would need a handshake). Default DefaultMaxConns (1000);
	// negative means no limit.
	MaxConns int
	// MaxConnsPerAddr is the most connections served at once from one
	// remote address (IPv6: one /64). Default DefaultMaxConnsPerAddr (20);
	// negative means no limit.
	MaxConnsPerAddr int
	// AllowInsecureAuth lets USER/PASS and the mechanisms that send a
	// password or a token in the clear (PLAIN, LOGIN, OAUTHBEARER,
	// XOAUTH2) run on a connection that is neither TLS nor from loopback.
	// Default false: they are refused there ("-ERR [AUTH] use STLS
	// first") and left out of CAPA.
	AllowInsecureAuth bool
	// SASLMechanisms, when set, limits the SASL mechanisms offered to
	// those listed (upper-case names) that the backend can run. Default
	// nil: all of them.
	SASLMechanisms []string
	// LoginDelay, when positive, is the least time between two logins of
	// one user (RFC 2449 §6.5 LOGIN-DELAY, advertised in CAPA); a login
	// sooner is refused with -ERR [LOGIN-DELAY]. Default 0: none.
	LoginDelay time.Duration
	// StreamMemory is the most memory given to the buffers of messages
	// being sent at once; a RETR or TOP beyond it uses small buffers.
	// Default DefaultStreamMemory (32 MiB).
	StreamMemory int64
	// MinSendRate, in octets per second, bounds the time the RETR and TOP
	// replies of a session may take: WriteTimeout once, plus their sizes
	// at this rate. A client that reads a trickle, each write making just
	// enough progress to beat WriteTimeout, is cut once its replies have
	// taken longer, and gives back what its reply holds (stream buffers,
	// the store's stream); pipelining many replies earns it no more grace.
	// Default DefaultMinSendRate (8 KiB/s); negative means no bound but
	// WriteTimeout per write.
	MinSendRate int64
	// DebugWriter, when set, receives a raw transcript of every session:
	// lines "S<id> C: ..." (from the client) and "S<id> S: ..." (from the
	// server), after TLS decryption. It CONTAINS PASSWORDS and message
	// contents: for debugging only. Default nil: no transcript.
	DebugWriter io.Writer
	// Observer, when set, is told of sessions, commands and octets sent
	// (for metrics). Default nil: none.
	Observer Observer
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	if o.Hostname == "" {
		o.Hostname, _ = os.Hostname()
		if o.Hostname == "" {
			o.Hostname = "localhost"
		}
	}
	if o.Implementation == "" {
		o.Implementation = DefaultImplementation
	}
	if o.AuthTimeout <= 0 {
		o.AuthTimeout = DefaultAuthTimeout
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.StoreTimeout <= 0 {
		o.StoreTimeout = DefaultStoreTimeout
	}
	if o.MaxLineLength < wire.MaxCommandLine {
		o.MaxLineLength = wire.MaxCommandLine
	}
	if o.MaxErrors <= 0 {
		o.MaxErrors = DefaultMaxErrors
	}
	if o.AuthFailDelay == 0 {
		o.AuthFailDelay = DefaultAuthFailDelay
	}
	if o.MaxAuthFailDelay <= 0 {
		o.MaxAuthFailDelay = DefaultMaxAuthFailDelay
	}
	o.MaxAuthFailDelay = max(o.MaxAuthFailDelay, o.AuthFailDelay)
	if o.MaxAuthFailures <= 0 {
		o.MaxAuthFailures = DefaultMaxAuthFailures
	}
	if o.MaxAuthTime <= 0 {
		o.MaxAuthTime = DefaultMaxAuthTime
	}
	if o.TLSHandshakeTimeout <= 0 {
		o.TLSHandshakeTimeout = DefaultTLSHandshakeTimeout
	}
	if o.MaxConns == 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.MaxConnsPerAddr == 0 {
		o.MaxConnsPerAddr = DefaultMaxConnsPerAddr
	}
	if o.MinSendRate == 0 {
		o.MinSendRate = DefaultMinSendRate
	}
	if o.StreamMemory <= 0 {
		o.StreamMemory = DefaultStreamMemory
	}
}

// Server is a POP3 server. Create it with New.
type Server struct {
	opts Options
	log  *slog.Logger

	ctx      context.Context // cancelled by Close: aborts store calls
	cancel   context.CancelFunc
	closed   atomic.Bool
	draining atomic.Bool // Shutdown started: sessions idle before login end
	nextID   atomic.Uint64

	addrs      *addrTable  // per-address connections and failed logins
	logins     loginDelays // LOGIN-DELAY
	streamMem  chan struct{}
	refused    atomic.Int64 // connections refused since the last warning
	refusedLog atomic.Int64 // unix nanoseconds of the last warning

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	sessions  map[*session]struct{}
	wg        sync.WaitGroup // running sessions
	debugMu   sync.Mutex     // serialises DebugWriter
}

// New returns a server configured by opts (copied; nil means all
// defaults, which has no Backend: Serve then fails).
func New(opts *Options) *Server {
	var o Options
	if opts != nil {
		o = *opts
	}
	o.setDefaults()
	if o.TLSConfig != nil && o.TLSConfig.MinVersion < tls.VersionTLS12 {
		// TLS 1.2 at least (RFC 8996 deprecates 1.0 and 1.1).
		o.TLSConfig = o.TLSConfig.Clone()
		o.TLSConfig.MinVersion = tls.VersionTLS12
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		opts:      o,
		log:       o.Logger,
		ctx:       ctx,
		cancel:    cancel,
		listeners: make(map[net.Listener]struct{}),
		sessions:  make(map[*session]struct{}),
		addrs:     newAddrTable(),
		streamMem: make(chan struct{}, max(1, o.StreamMemory/streamBufferCost)),
	}
}

// ListenAndServe listens on the TCP address addr and serves it.
func (s *Server) ListenAndServe(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(l)
}

// ServeTLS serves implicit TLS (POP3S, RFC 8314) on l with
// Options.TLSConfig.
func (s *Server) ServeTLS(l net.Listener) error {
	if s.opts.TLSConfig == nil {
		l.Close()
		return errors.New("pop3server: ServeTLS without Options.TLSConfig")
	}
	return s.serve(l, true)
}

// Serve accepts connections on l and serves each in its own goroutine. It
// returns ErrServerClosed after Close or Shutdown, or the error that
// stopped Accept. Serve closes l when it returns.
func (s *Server) Serve(l net.Listener) error {
	return s.serve(l, false)
}

func (s *Server) serve(l net.Listener, implicitTLS bool) error {
	if s.opts.Backend == nil {
		l.Close()
		return errors.New("pop3server: Options.Backend is nil")
	}
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.Close()
	}()

	var backoff time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if s.closed.Load() {
				return ErrServerClosed
			}
			if retryableAccept(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", "err", err, "retry_in", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		conn := c
		if implicitTLS {
			conn = tls.Server(c, s.opts.TLSConfig)
		}
		switch s.startSession(conn, c, implicitTLS) {
		case startClosed:
			c.Close()
			return ErrServerClosed
		case startRefused:
			s.refuse(c, implicitTLS)
		}
	}
}

// refuse answers a connection over a limit and closes it. On implicit TLS
// it is closed at once: the line would cost a handshake.
func (s *Server) refuse(c net.Conn, implicitTLS bool) {
	if !implicitTLS {
		c.SetWriteDeadline(time.Now().Add(refuseTimeout))
		io.WriteString(c, "-ERR [SYS/TEMP] too many connections, try again later\r\n")
	}
	c.Close()
	n := s.refused.Add(1)
	now := time.Now().UnixNano()
	if last := s.refusedLog.Load(); now-last >= int64(refusalLogEvery) && s.refusedLog.CompareAndSwap(last, now) {
		s.refused.Add(-n)
		s.log.Warn("connections refused: connection limit reached", "refused", n,
			"max_conns", s.opts.MaxConns, "max_conns_per_addr", s.opts.MaxConnsPerAddr)
	}
}

// retryableAccept reports whether an Accept error is passing (out of file
// descriptors or memory, a connection aborted before it was accepted): the
// server then waits a little and goes on, as net/http does.
func retryableAccept(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.ECONNRESET} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}

const (
	startOK = iota
	startClosed
	startRefused
)

// startSession registers and starts a session, unless the server is closed
// or a connection limit is reached.
func (s *Server) startSession(c, raw net.Conn, isTLS bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return startClosed
	}
	if s.opts.MaxConns > 0 && len(s.sessions) >= s.opts.MaxConns {
		return startRefused
	}
	key := addrKey(raw.RemoteAddr())
	perAddr := s.opts.MaxConnsPerAddr
	if perAddr < 0 {
		perAddr = int(^uint(0) >> 1)
	}
	if !s.addrs.connect(key, perAddr) {
		return startRefused
	}
	sess := newSession(s, c, raw, isTLS)
	sess.addr = key
	s.sessions[sess] = struct{}{}
	s.wg.Add(1)
	s.opts.Observer.SessionStarted()
	go func() {
		defer s.wg.Done()
		defer s.opts.Observer.SessionEnded()
		sess.serve()
		s.addrs.disconnect(key)
		s.mu.Lock()
		delete(s.sessions, sess)
		s.mu.Unlock()
	}()
	return startOK
}

// stopAccepting marks the server closed and closes its listeners.
func (s *Server) stopAccepting() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed.Store(true)
	for l := range s.listeners {
		l.Close()
	}
}

// Close stops the server at once: it closes the listeners and every
// connection, cancels store calls in flight, and waits for the sessions to
// end. Sessions that had not finished with QUIT call Mailbox.Abandon, never
// Update.
func (s *Server) Close() error {
	s.stopAccepting()
	s.cancel()
	s.mu.Lock()
	for sess := range s.sessions {
		sess.raw.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// Shutdown stops accepting connections, ends the sessions idle before
// login (-ERR [SYS/TEMP]), and waits for the others to end by themselves
// (their clients QUIT or they time out). When ctx is done
// first, it calls Close and returns ctx.Err(): the unfinished sessions are
// abandoned, never updated.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopAccepting()
	// Sessions waiting for a command before login have nothing to finish:
	// end them now. Logged-in sessions keep their maildrop until they QUIT
	// or ctx ends.
	s.draining.Store(true)
	s.mu.Lock()
	for sess := range s.sessions {
		if sess.idleAuth.Load() {
			sess.raw.SetReadDeadline(time.Now())
		}
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.Close()
		return ctx.Err()
	}
}

// debugConn returns c, or c wrapped to copy its traffic to
// Options.DebugWriter.
func (s *Server) debugConn(c net.Conn, id uint64) net.Conn {
	if s.opts.DebugWriter == nil {
		return c
	}
	return &transcriptConn{Conn: c, srv: s, prefix: "S" + strconv.FormatUint(id, 10)}
}

// transcriptConn copies what is read and written to the debug writer,
// one entry per line.
type transcriptConn struct {
	net.Conn
	srv    *Server
	prefix string
}

func (t *transcriptConn) Read(p []byte) (int, error) {
	n, err := t.Conn.Read(p)
	t.srv.transcript(t.prefix+" C: ", p[:n])
	return n, err
}

func (t *transcriptConn) Write(p []byte) (int, error) {
	n, err := t.Conn.Write(p)
	t.srv.transcript(t.prefix+" S: ", p[:n])
	return n, err
}

func (s *Server) transcript(prefix string, p []byte) {
	if len(p) == 0 {
		return
	}
	var b []byte
	for len(p) > 0 {
		line := p
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			line = p[:i+1]
		}
		p = p[len(line):]
		b = append(b, prefix...)
		b = append(b, bytes.TrimRight(line, "\r\n")...)
		b = append(b, '\n')
	}
	s.debugMu.Lock()
	s.opts.DebugWriter.Write(b)
	s.debugMu.Unlock()
}

// timeoutWriter sets a write deadline before every write, so that each
// chunk of a reply gets Options.WriteTimeout, and no write ends after
// limit when it is set (the deadline of a whole RETR or TOP).
type timeoutWriter struct {
	c     net.Conn
	d     time.Duration
	limit time.Time
	obs   Observer
}

func (w *timeoutWriter) Write(p []byte) (int, error) {
	dl := time.Now().Add(w.d)
	if !w.limit.IsZero() && w.limit.Before(dl) {
		dl = w.limit
	}
	if err := w.c.SetWriteDeadline(dl); err != nil {
		return 0, err
	}
	n, err := w.c.Write(p)
	w.obs.BytesSent(n)
	return n, err
}

// streamBufferCost is what one set of stream buffers costs, the unit of
// Options.StreamMemory.
const streamBufferCost = 2 * streamBufferSize

// smallStreamBufferSize is the size of each buffer used by a RETR or TOP
// once StreamMemory is in use by others.
const smallStreamBufferSize = 4 << 10

var (
	streamWriterPool      = sync.Pool{New: func() any { return newStreamBuffers(streamBufferSize) }}
	smallStreamWriterPool = sync.Pool{New: func() any { return newStreamBuffers(smallStreamBufferSize) }}
)

type streamBuffers struct {
	w   *bufio.Writer
	buf []byte
}

func newStreamBuffers(size int) *streamBuffers {
	return &streamBuffers{w: bufio.NewWriterSize(nil, size), buf: make([]byte, size)}
}

// getStreamBuffers returns buffers for one RETR or TOP, and the function
// that gives them back: full-size ones while Options.StreamMemory allows,
// small ones beyond.
func (s *Server) getStreamBuffers() (*streamBuffers, func()) {
	select {
	case s.streamMem <- struct{}{}:
		sb := streamWriterPool.Get().(*streamBuffers)
		return sb, func() {
			sb.w.Reset(nil)
			streamWriterPool.Put(sb)
			<-s.streamMem
		}
	default:
		sb := smallStreamWriterPool.Get().(*streamBuffers)
		return sb, func() {
			sb.w.Reset(nil)
			smallStreamWriterPool.Put(sb)
		}
	}
}
