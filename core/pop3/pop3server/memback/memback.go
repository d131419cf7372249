// Package memback is an in-memory pop3server.Backend for tests and demos:
// users with passwords, maildrops of raw messages, real maildrop locking
// (a second login gets -ERR [IN-USE]), optional APOP, and a record of the
// Update / Abandon / Close calls so tests can check what a session did.
//
// It imports only the standard library.
package memback

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/izyware/izypop3/core/pop3"
	"github.com/izyware/izypop3/core/pop3/pop3server"
	"github.com/izyware/izypop3/core/pop3/wire"
)

// Compile-time checks.
var (
	_ pop3server.APOPBackend = (*Backend)(nil)
	_ pop3server.SASLBackend = (*Backend)(nil)
	_ pop3server.Mailbox     = (*mailbox)(nil)
	_ pop3server.TopOpener   = (*mailbox)(nil)
)

// ErrAuth is the error Login returns for wrong credentials.
var ErrAuth = &pop3.Error{Code: pop3.CodeAuth, Text: "invalid user name or password"}

// ErrInUse is the error Login returns while the maildrop is locked.
var ErrInUse = &pop3.Error{Code: pop3.CodeInUse, Text: "maildrop already locked"}

// Call records one Update, Abandon or Close call.
type Call struct {
	Op        string // "update", "abandon" or "close"
	User      string
	Deleted   []string // for "update"
	Retrieved []string // for "update" and "abandon"
}

// Backend is the in-memory backend. The zero value is not usable; call New.
type Backend struct {
	mu    sync.Mutex
	users map[string]*user
	apop  bool
	sasl  bool
	calls []Call
}

type user struct {
	pass   string
	msgs   []message
	locked bool
}

type message struct {
	uid  string
	data []byte
}

// New returns an empty backend.
func New() *Backend {
	return &Backend{users: make(map[string]*user)}
}

// AddUser adds (or re-passwords) a user with an empty maildrop.
func (b *Backend) AddUser(name, pass string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if u, ok := b.users[name]; ok {
		u.pass = pass
		return
	}
	b.users[name] = &user{pass: pass}
}

// Add appends a message to a user's maildrop; the user must exist. The
// data is stored as is (any line endings).
func (b *Backend) Add(name, uid string, data []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	u, ok := b.users[name]
	if !ok {
		panic("memback: Add for unknown user " + name)
	}
	u.msgs = append(u.msgs, message{uid: uid, data: bytes.Clone(data)})
}

// SetAPOP turns APOP on or off (off by default).
func (b *Backend) SetAPOP(on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.apop = on
}

// SetSASL turns SASL AUTH with PLAIN and LOGIN on or off (off by
// default).
func (b *Backend) SetSASL(on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sasl = on
}

// SASLMechanisms implements pop3server.SASLBackend: PLAIN and LOGIN when
// SetSASL(true) was called.
func (b *Backend) SASLMechanisms() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.sasl {
		return nil
	}
	return []string{"PLAIN", "LOGIN"}
}

// NewSASL implements pop3server.SASLBackend.
func (b *Backend) NewSASL(ctx context.Context, mech, remote string) (pop3server.SASLExchange, error) {
	x := &saslExchange{plain: mech == "PLAIN"}
	return pop3server.SASLExchange{
		Server: x,
		Login: func(ctx context.Context) (string, pop3server.Mailbox, error) {
			mb, err := b.Login(ctx, pop3server.LoginRequest{User: x.user, Pass: x.pass, Remote: remote})
			return x.user, mb, err
		},
	}, nil
}

// saslExchange is PLAIN (RFC 4616) or LOGIN; the password is checked by
// Login once the exchange is done.
type saslExchange struct {
	plain      bool
	step       int
	user, pass string
}

func (x *saslExchange) Next(resp []byte) ([]byte, bool, error) {
	x.step++
	switch {
	case x.plain && resp == nil && x.step == 1:
		return []byte{}, false, nil
	case x.plain && x.step <= 2:
		f := bytes.Split(resp, []byte{0})
		if len(f) != 3 || len(f[1]) == 0 {
			return nil, true, ErrAuth
		}
		x.user, x.pass = string(f[1]), string(f[2])
		return nil, true, nil
	case !x.plain && resp == nil && x.step == 1:
		return []byte("Username:"), false, nil
	case !x.plain && x.user == "" && x.step <= 2:
		x.user = string(resp)
		return []byte("Password:"), false, nil
	case !x.plain && x.step <= 3:
		x.pass = string(resp)
		return nil, true, nil
	}
	return nil, true, ErrAuth
}

// UIDs returns the UIDs in a user's maildrop now.
func (b *Backend) UIDs(name string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var uids []string
	if u, ok := b.users[name]; ok {
		for _, m := range u.msgs {
			uids = append(uids, m.uid)
		}
	}
	return uids
}

// Locked reports whether a user's maildrop is locked by a session.
func (b *Backend) Locked(name string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	u, ok := b.users[name]
	return ok && u.locked
}

// Calls returns the Update, Abandon and Close calls so far, in order.
func (b *Backend) Calls() []Call {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.calls)
}

// Login implements pop3server.Backend.
func (b *Backend) Login(ctx context.Context, req pop3server.LoginRequest) (pop3server.Mailbox, error) {
	return b.login(ctx, req.User, func(u *user) bool {
		return subtle.ConstantTimeCompare([]byte(u.pass), []byte(req.Pass)) == 1
	})
}

// APOPEnabled implements pop3server.APOPBackend.
func (b *Backend) APOPEnabled() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.apop
}

// LoginAPOP implements pop3server.APOPBackend (RFC 1939 §7).
func (b *Backend) LoginAPOP(ctx context.Context, name, timestamp, digest, remote string) (pop3server.Mailbox, error) {
	return b.login(ctx, name, func(u *user) bool {
		sum := md5.Sum([]byte(timestamp + u.pass))
		return subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum[:])), []byte(digest)) == 1
	})
}

func (b *Backend) login(ctx context.Context, name string, ok func(*user) bool) (pop3server.Mailbox, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	u, found := b.users[name]
	if !found || !ok(u) {
		return nil, ErrAuth
	}
	if u.locked {
		return nil, ErrInUse
	}
	u.locked = true
	return &mailbox{b: b, name: name, snap: slices.Clone(u.msgs)}, nil
}

type mailbox struct {
	b      *Backend
	name   string
	snap   []message
	closed bool
}

func (m *mailbox) Messages(ctx context.Context) ([]pop3server.Message, error) {
	out := make([]pop3server.Message, len(m.snap))
	for i, msg := range m.snap {
		size := wire.Size(msg.data)
		// In wire form when nothing needs converting, as a store that
		// knows both sizes says.
		out[i] = pop3server.Message{UID: msg.uid, Size: size, WireForm: size > 0 && size == int64(len(msg.data))}
	}
	return out, nil
}

func (m *mailbox) Open(ctx context.Context, n int) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if n < 1 || n > len(m.snap) {
		return nil, fmt.Errorf("memback: no message %d", n)
	}
	return io.NopCloser(bytes.NewReader(m.snap[n-1].data)), nil
}

// OpenTop returns the whole message: memory needs no shortcut, but the
// server's use of TopOpener is exercised.
func (m *mailbox) OpenTop(ctx context.Context, n, lines int) (io.ReadCloser, error) {
	return m.Open(ctx, n)
}

func (m *mailbox) Update(ctx context.Context, deleted, retrieved []string) error {
	m.b.mu.Lock()
	defer m.b.mu.Unlock()
	m.b.calls = append(m.b.calls, Call{Op: "update", User: m.name, Deleted: slices.Clone(deleted), Retrieved: slices.Clone(retrieved)})
	if u, ok := m.b.users[m.name]; ok {
		u.msgs = slices.DeleteFunc(u.msgs, func(msg message) bool { return slices.Contains(deleted, msg.uid) })
	}
	return nil
}

func (m *mailbox) Abandon(ctx context.Context, retrieved []string) error {
	m.b.mu.Lock()
	defer m.b.mu.Unlock()
	m.b.calls = append(m.b.calls, Call{Op: "abandon", User: m.name, Retrieved: slices.Clone(retrieved)})
	return nil
}

func (m *mailbox) Close() error {
	m.b.mu.Lock()
	defer m.b.mu.Unlock()
	if m.closed {
		return errors.New("memback: mailbox closed twice")
	}
	m.closed = true
	m.b.calls = append(m.b.calls, Call{Op: "close", User: m.name})
	if u, ok := m.b.users[m.name]; ok {
		u.locked = false
	}
	return nil
}
