// Package selftest holds the checks behind `izypop3 test`: the seed's
// (izy-pop3) full client/server test, run end to end over any sdk.Store
// with the real POP3 server (pop3server over pop3backend) and client
// (pop3client) on a loopback port, and the mimestore listing test.
package selftest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/izyware/izypop3/core/auth"
	"github.com/izyware/izypop3/core/pop3"
	"github.com/izyware/izypop3/core/pop3/pop3client"
	"github.com/izyware/izypop3/core/pop3/pop3server"
	"github.com/izyware/izypop3/core/storehost/pop3backend"
	"github.com/izyware/izypop3/sdk"
)

const (
	// DefaultPassword is the shared password of the test server.
	DefaultPassword = "izypop3-selftest"
	// DefaultMailboxPrefix starts the name of every mailbox a run uses.
	DefaultMailboxPrefix = "selftest"
	// DefaultTimeout bounds each network wait of a scenario.
	DefaultTimeout = 30 * time.Second

	// minMessages is how many unread messages each scenario needs; a
	// mailbox with fewer is topped up with generated messages (a fake
	// store already has 99).
	minMessages = 3
	// inUseRetries is how often a login that meets the previous session's
	// lock is retried: the server releases it just after its last reply.
	inUseRetries = 50
	// inUseWait is the pause between those retries.
	inUseWait = 20 * time.Millisecond
	// pollInterval is how often the store is checked while waiting (at
	// most Options.Timeout) for the server to apply an abandoned session's
	// changes, which it does after the connection is gone.
	pollInterval = 10 * time.Millisecond
)

// Options tunes FullClientServer. The zero value gives the defaults.
type Options struct {
	// Password is the server's shared password. Default DefaultPassword.
	Password string
	// MailboxPrefix starts each scenario's mailbox name; a random suffix
	// keeps runs apart on persistent stores. Default DefaultMailboxPrefix.
	MailboxPrefix string
	// Timeout bounds each network wait, and the wait for the server to
	// apply a dropped session's changes. Default DefaultTimeout (30 s).
	Timeout time.Duration
	// Logger receives the server side's logs. Default: discard.
	Logger *slog.Logger
}

// scenario is one named check.
type scenario struct {
	name string
	run  func(ctx context.Context, e *env, mailbox string) error
}

var scenarios = []scenario{
	{"badlogin", badLogin},
	{"listandquit", listAndQuit},
	{"pop3failed", pop3Failed},
	{"retrsuccess", retrSuccess},
	{"pipelining", pipelining},
	{"delequit", deleQuit},
}

// env is the running test installation.
type env struct {
	store    sdk.Store
	opts     Options
	addr     string // server in default mode
	queue    string // server in consume-on-retr (queue) mode
	password string
}

// FullClientServer runs the seed's fullclientserver test over store: a POP3
// server on a free 127.0.0.1 port, password authentication, and the real
// client. It writes one "PASS name" or "FAIL name: reason" line per
// scenario to w and returns an error if any failed:
//
//   - badlogin: a wrong password gets -ERR [AUTH].
//   - listandquit: STAT, LIST and UIDL agree with each other and with the
//     store; QUIT without DELE changes nothing in the store.
//   - pop3failed: in queue mode (consume on RETR), a session that RETRs a
//     message and drops the connection leaves it tagged pop3failed.
//   - retrsuccess: RETR of every message gives the store's octets with
//     CRLF line ends, exactly as many as LIST states.
//   - pipelining: several commands in one write are answered in order.
//   - delequit: DELE then QUIT tags the message archive in the store and
//     it is gone from the next session's maildrop.
//
// Each scenario uses its own mailbox, topped up with generated messages if
// it holds fewer than three unread ones, so the test changes the store.
func FullClientServer(ctx context.Context, w io.Writer, store sdk.Store, opts Options) error {
	if store == nil {
		return errors.New("selftest: nil store")
	}
	if opts.Password == "" {
		opts.Password = DefaultPassword
	}
	if opts.MailboxPrefix == "" {
		opts.MailboxPrefix = DefaultMailboxPrefix
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	e := &env{store: store, opts: opts, password: opts.Password}
	pw, err := auth.NewPassword(opts.Password)
	if err != nil {
		return fmt.Errorf("selftest: %w", err)
	}
	for _, srv := range []struct {
		addr    *string
		consume bool
	}{{&e.addr, false}, {&e.queue, true}} {
		backend, err := pop3backend.New(store, pop3backend.Options{
			Auth:          pw,
			ConsumeOnRetr: srv.consume,
			Logger:        opts.Logger.With("server", map[bool]string{false: "pop3", true: "pop3-queue"}[srv.consume]),
		})
		if err != nil {
			return fmt.Errorf("selftest: %w", err)
		}
		addr, stop, err := startServer(backend, opts.Timeout)
		if err != nil {
			return fmt.Errorf("selftest: start server: %w", err)
		}
		defer stop()
		*srv.addr = addr
	}

	suffix := randomSuffix()
	var failed []string
	for _, sc := range scenarios {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("selftest: %w", err)
		}
		mailbox := opts.MailboxPrefix + "-" + sc.name + "-" + suffix
		err := sc.run(ctx, e, mailbox)
		if err != nil {
			failed = append(failed, sc.name)
			fmt.Fprintf(w, "FAIL %s: %v\n", sc.name, err)
		} else {
			fmt.Fprintf(w, "PASS %s\n", sc.name)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("selftest: %d of %d scenarios failed: %s", len(failed), len(scenarios), strings.Join(failed, ", "))
	}
	return nil
}

// startServer serves backend on a free loopback port until stop is called.
func startServer(backend pop3server.Backend, timeout time.Duration) (addr string, stop func(), err error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := pop3server.New(&pop3server.Options{
		Backend:       backend,
		Hostname:      "localhost",
		AuthFailDelay: -1, // badlogin need not wait
		StoreTimeout:  timeout,
		AuthTimeout:   timeout,
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(l)
	}()
	return l.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			srv.Close()
		}
		<-done
	}, nil
}

func randomSuffix() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// dial connects to addr; the client is closed when ctx ends.
func (e *env) dial(ctx context.Context, addr string) (*pop3client.Client, func(), error) {
	c, err := pop3client.Dial(addr, &pop3client.Options{Timeout: e.opts.Timeout, DialTimeout: e.opts.Timeout})
	if err != nil {
		return nil, nil, err
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	return c, func() { stop(); c.Close() }, nil
}

// session dials addr and logs in to mailbox, retrying while the previous
// session's lock is still held.
func (e *env) session(ctx context.Context, addr, mailbox string) (*pop3client.Client, func(), error) {
	for try := 0; ; try++ {
		c, done, err := e.dial(ctx, addr)
		if err != nil {
			return nil, nil, err
		}
		err = c.Login(mailbox, e.password)
		if err == nil {
			return c, done, nil
		}
		done()
		if !errors.Is(err, &pop3.Error{Code: pop3.CodeInUse}) || try >= inUseRetries {
			return nil, nil, fmt.Errorf("login: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(inUseWait):
		}
	}
}

// storeItem is what the store holds for one maildrop message.
type storeItem struct {
	sdk.Item
	wireSize int64 // Item.WireSize, or computed
}

// maildrop returns the mailbox's unread items in List order, after topping
// the mailbox up to minMessages.
func (e *env) maildrop(ctx context.Context, mailbox string) ([]storeItem, error) {
	items, err := e.unread(ctx, mailbox)
	if err != nil {
		return nil, err
	}
	if len(items) >= minMessages {
		return items, nil
	}
	for i := len(items); i < minMessages; i++ {
		if _, err := e.store.Put(ctx, mailbox, sdk.PutOptions{Tag: sdk.TagUnread}, strings.NewReader(testMessage(mailbox, i))); err != nil {
			return nil, fmt.Errorf("store: put a test message: %w", err)
		}
	}
	return e.unread(ctx, mailbox)
}

func (e *env) unread(ctx context.Context, mailbox string) ([]storeItem, error) {
	var items []storeItem
	for it, err := range e.store.List(ctx, mailbox, sdk.ListOptions{Tags: []sdk.Tag{sdk.TagUnread}}) {
		if err != nil {
			return nil, fmt.Errorf("store: list: %w", err)
		}
		si := storeItem{Item: it, wireSize: it.WireSize}
		if si.wireSize == 0 && it.Size > 0 {
			rc, err := e.store.Fetch(ctx, mailbox, it.UID)
			if err != nil {
				return nil, fmt.Errorf("store: fetch %s: %w", it.UID, err)
			}
			si.wireSize, err = sdk.WireSizeOf(rc)
			rc.Close()
			if err != nil {
				return nil, fmt.Errorf("store: read %s: %w", it.UID, err)
			}
		}
		items = append(items, si)
	}
	return items, nil
}

// tagOf returns the current tag of uid in mailbox ("" if it is gone).
func (e *env) tagOf(ctx context.Context, mailbox, uid string) (sdk.Tag, error) {
	for it, err := range e.store.List(ctx, mailbox, sdk.ListOptions{}) {
		if err != nil {
			return "", fmt.Errorf("store: list: %w", err)
		}
		if it.UID == uid {
			return it.Tag, nil
		}
	}
	return "", nil
}

// snapshot returns "uid:tag" of every item of mailbox, for before/after
// comparisons.
func (e *env) snapshot(ctx context.Context, mailbox string) (string, error) {
	var b strings.Builder
	for it, err := range e.store.List(ctx, mailbox, sdk.ListOptions{}) {
		if err != nil {
			return "", fmt.Errorf("store: list: %w", err)
		}
		fmt.Fprintf(&b, "%s:%s ", it.UID, it.Tag)
	}
	return b.String(), nil
}

// testMessage is a generated message used to top a mailbox up. It has a
// line that needs dot-stuffing, and the second one bare LF line ends, so
// both paths are exercised with any store.
func testMessage(mailbox string, i int) string {
	msg := fmt.Sprintf("From: izypop3 selftest <selftest@izypop3.invalid>\r\n"+
		"To: %s@izypop3.invalid\r\n"+
		"Subject: izypop3 selftest message %d\r\n"+
		"Message-ID: <%s.%d@izypop3.invalid>\r\n"+
		"\r\n"+
		"Message %d of the izypop3 self test.\r\n"+
		".A line that starts with a dot.\r\n"+
		"..\r\n"+
		"Last line.\r\n", mailbox, i, mailbox, i, i)
	if i%2 == 1 {
		msg = strings.ReplaceAll(msg, "\r\n", "\n")
	}
	return msg
}

// wireHash returns the SHA-256 and length of r as POP3 transmits it: every
// line end CRLF (a bare LF or lone CR counts as CRLF) and a final CRLF added
// to a message that lacks one. Same rule as sdk.WireSizeOf.
func wireHash(r io.Reader) (string, int64, error) {
	h := sha256.New()
	var n int64
	buf := make([]byte, 32<<10)
	out := make([]byte, 0, 2*len(buf))
	lastCR, seen, atStart := false, false, true
	for {
		m, err := r.Read(buf)
		out = out[:0]
		for _, c := range buf[:m] {
			seen = true
			switch c {
			case '\r':
				out = append(out, '\r', '\n')
				lastCR, atStart = true, true
				continue
			case '\n':
				if !lastCR {
					out = append(out, '\r', '\n')
				}
				atStart = true
			default:
				out = append(out, c)
				atStart = false
			}
			lastCR = false
		}
		h.Write(out)
		n += int64(len(out))
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", 0, err
		}
	}
	if seen && !atStart {
		h.Write([]byte("\r\n"))
		n += 2
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
