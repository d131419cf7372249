package pop3server

import (
	"context"
	"net"
	"sync"
	"time"
)

// Limits against abuse. Each default is documented on its Options field
// and in docs/security.md, and each has a test.
const (
	// DefaultMaxConns is the most connections served at once; more are
	// refused with -ERR [SYS/TEMP]. It keeps file descriptors, goroutines
	// and memory bounded whatever arrives.
	DefaultMaxConns = 1000
	// DefaultMaxConnsPerAddr is the most connections served at once from
	// one remote address (an IPv6 /64 counts as one address).
	DefaultMaxConnsPerAddr = 20
	// DefaultMaxAuthFailures is how many failed logins one connection may
	// make before it is closed.
	DefaultMaxAuthFailures = 3
	// DefaultMaxAuthFailDelay caps the failed-login delay, which doubles
	// with each failure from the same address (AuthFailDelay, 2×, 4×, …).
	DefaultMaxAuthFailDelay = 15 * time.Second
	// DefaultMaxAuthTime bounds the AUTHORIZATION state as a whole, from
	// the connection to a successful login, whatever the client sends
	// (valid commands included): a session cannot stay unauthenticated
	// longer.
	DefaultMaxAuthTime = 2 * time.Minute
	// DefaultTLSHandshakeTimeout bounds a TLS handshake (implicit TLS and
	// STLS).
	DefaultTLSHandshakeTimeout = 15 * time.Second
	// DefaultStreamMemory is the memory the server gives at most to the
	// buffers of messages being sent (RETR, TOP) at once; a RETR beyond it
	// is sent through small buffers, slower but never refused.
	DefaultStreamMemory = 32 << 20
	// DefaultMinSendRate is the slowest average rate, in octets per
	// second, at which a session's RETR and TOP replies may be read by the
	// client (after one grace of WriteTimeout); a slower reader is
	// disconnected. It plays the part of Postfix's smtpd_min_data_rate
	// for the sending side. 8 KiB/s (64 kbit/s, a GPRS-class link) sends a
	// 50 MiB message in 1 h 48 min: a client that stalls one gives its
	// buffers and its store stream back by then. Dovecot has no rate, only
	// an idle limit that any progress resets, so a client reading one
	// octet a minute holds its process for ever; WriteTimeout (60 s
	// without progress) plays that part here. The 1 KiB/s of before let a
	// trickle hold a 50 MiB RETR for 14 hours.
	DefaultMinSendRate = 8 << 10

	// failMemory is how long an address's failed logins are remembered
	// after its last one.
	failMemory = 15 * time.Minute
	// maxFailEntries bounds the addresses remembered for their failed
	// logins once they have no connection left; beyond it some are
	// forgotten early.
	maxFailEntries = 50000
	// refuseTimeout bounds the write of the line refusing a connection
	// over a limit (a fresh socket: it does not block).
	refuseTimeout = 100 * time.Millisecond
	// refusalLogEvery spaces the warnings about refused connections.
	refusalLogEvery = 10 * time.Second
)

// addrKey returns the key under which per-address limits count a remote
// address: its IP, or for IPv6 its /64 prefix (what one subscriber gets).
func addrKey(addr net.Addr) string {
	var ip net.IP
	switch a := addr.(type) {
	case *net.TCPAddr:
		ip = a.IP
	default:
		host, _, err := net.SplitHostPort(addr.String())
		if err != nil {
			return addr.String()
		}
		ip = net.ParseIP(host)
		if ip == nil {
			return host
		}
	}
	if ip4 := ip.To4(); ip4 != nil {
		return ip4.String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// isLoopback reports whether addr is a loopback address.
func isLoopback(addr net.Addr) bool {
	if a, ok := addr.(*net.TCPAddr); ok {
		return a.IP.IsLoopback()
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// addrTable is the state kept per remote address: open connections, and
// failed logins with the delay they impose on the next credential check.
// Credential checks from one address run one at a time.
type addrTable struct {
	mu sync.Mutex
	m  map[string]*addrEntry
}

type addrEntry struct {
	conns    int
	failures int           // failed logins, forgotten failMemory after the last
	lastFail time.Time     //
	next     time.Time     // no credential check starts before this
	turn     chan struct{} // holds one token: the right to check credentials
	waiting  int           // sessions holding or waiting for turn
}

func newAddrTable() *addrTable { return &addrTable{m: make(map[string]*addrEntry)} }

func (t *addrTable) entryLocked(key string) *addrEntry {
	e := t.m[key]
	if e == nil {
		e = &addrEntry{turn: make(chan struct{}, 1)}
		e.turn <- struct{}{}
		t.m[key] = e
	}
	return e
}

// pruneLocked drops e when nothing about it is worth keeping.
func (t *addrTable) pruneLocked(key string, e *addrEntry, now time.Time) {
	if e.failures > 0 && now.Sub(e.lastFail) >= failMemory {
		e.failures = 0
	}
	if e.conns == 0 && e.waiting == 0 && e.failures == 0 {
		delete(t.m, key)
	}
}

// connect counts a new connection from key; false when the address is at
// max already.
func (t *addrTable) connect(key string, max int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entryLocked(key)
	if e.conns >= max {
		t.pruneLocked(key, e, time.Now())
		return false
	}
	e.conns++
	return true
}

// disconnect undoes connect.
func (t *addrTable) disconnect(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.m[key]; e != nil {
		e.conns--
		t.pruneLocked(key, e, time.Now())
	}
}

// turn waits, within ctx, for the address's right to check credentials
// and then until its failure delay has passed. The returned function gives
// the right back.
func (t *addrTable) turn(ctx context.Context, key string) (release func(), err error) {
	t.mu.Lock()
	e := t.entryLocked(key)
	e.waiting++
	t.mu.Unlock()
	done := func() {
		t.mu.Lock()
		e.waiting--
		t.pruneLocked(key, e, time.Now())
		t.mu.Unlock()
	}
	select {
	case <-e.turn:
	case <-ctx.Done():
		done()
		return nil, ctx.Err()
	}
	release = func() {
		e.turn <- struct{}{}
		done()
	}
	t.mu.Lock()
	wait := time.Until(e.next)
	t.mu.Unlock()
	if wait > 0 {
		timer := time.NewTimer(wait)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-ctx.Done():
			release()
			return nil, ctx.Err()
		}
	}
	return release, nil
}

// failed records a failed login from key and returns the delay it earns:
// base doubled for each earlier failure still remembered, at most limit.
// No credential check from the address starts before the delay is over.
func (t *addrTable) failed(key string, base, limit time.Duration) time.Duration {
	if base <= 0 {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	e := t.entryLocked(key)
	if now.Sub(e.lastFail) >= failMemory {
		e.failures = 0
	}
	e.failures++
	e.lastFail = now
	d := base
	for i := 1; i < e.failures && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	e.next = now.Add(d)
	if len(t.m) > maxFailEntries {
		t.evictLocked(now)
	}
	return d
}

// succeeded forgets the failures of key: its user got in.
func (t *addrTable) succeeded(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.m[key]; e != nil {
		e.failures = 0
		e.next = time.Time{}
		t.pruneLocked(key, e, time.Now())
	}
}

// evictLocked makes room: it drops every entry whose failures are
// forgotten and that has no connection, then idle entries at random (map
// order) until a tenth of the room is free.
func (t *addrTable) evictLocked(now time.Time) {
	for k, e := range t.m {
		t.pruneLocked(k, e, now)
	}
	for k, e := range t.m {
		if len(t.m) <= maxFailEntries*9/10 {
			break
		}
		if e.conns == 0 && e.waiting == 0 {
			delete(t.m, k)
		}
	}
}

// loginDelays remembers each user's last login for LOGIN-DELAY (RFC 2449
// §6.5).
type loginDelays struct {
	mu   sync.Mutex
	last map[string]time.Time
}

// allow reports whether user may log in now, at least d after the last
// login, and if so records this one.
func (l *loginDelays) allow(user string, d time.Duration) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if l.last == nil {
		l.last = make(map[string]time.Time)
	}
	if t, ok := l.last[user]; ok && now.Sub(t) < d {
		return false
	}
	if len(l.last) >= 10000 {
		for u, t := range l.last {
			if now.Sub(t) >= d {
				delete(l.last, u)
			}
		}
	}
	l.last[user] = now
	return true
}
