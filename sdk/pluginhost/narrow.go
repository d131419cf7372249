package pluginhost

import (
	"fmt"
	"slices"

	"github.com/izyware/izypop3/sdk"
)

//go:generate go run narrow_gen.go

// Full is every call of the protocol a host can make: what Remote
// implements, and what a host that wraps a Remote (to restart the plugin,
// say) implements. Which of them the plugin really serves is in its
// Info.Capabilities; Narrow turns that list into the type of a value.
type Full interface {
	sdk.Store
	sdk.Configurer
	sdk.Authenticator
	sdk.TopFetcher
	sdk.Locker
	sdk.Checker
	sdk.Syncer
	BatchFetcher
	BatchPutter
	// BindLock returns the store as seen by the holder of the lock token
	// on mailbox (see LockBinder).
	BindLock(mailbox, token string) Full
}

// ErrLockLost is wrapped by the errors of a store bound to a maildrop lock
// (LockBinder) once the plugin process that held the lock is gone. It wraps
// sdk.ErrUnavailable.
var ErrLockLost = fmt.Errorf("%w: maildrop lock lost: the store plugin process that held it is gone", sdk.ErrUnavailable)

// LockBinder is implemented, beside sdk.Locker, by the store values of a
// host. A maildrop lock lives in the plugin process and dies with it,
// without Unlock; a host that restarts the plugin reaches a fresh process
// that knows nothing of the lock, while another program may hold it by
// then. Work done under a lock therefore goes through Bind.
type LockBinder interface {
	// Bind returns the store as seen by the holder of the lock token (from
	// Lock) on mailbox: every call runs in the plugin process that granted
	// the lock, and once that process is gone fails with an error wrapping
	// ErrLockLost instead of reaching another. The value has the same
	// optional interfaces as the one Bind was called on.
	Bind(mailbox, token string) sdk.Store
}

// binder is the LockBinder of a narrowed value: it narrows the bound store
// the same way.
type binder struct {
	s    Full
	mask int
}

func (b binder) Bind(mailbox, token string) sdk.Store {
	return narrowers[b.mask](b.s.BindLock(mailbox, token), b.mask)
}

// narrowed lists the optional interfaces Narrow decides, in the bit order
// of narrowers: bit i is set when the capability narrowed[i] is kept.
var narrowed = [...]string{
	CapConfigurer,
	CapAuthenticator,
	CapTopFetcher,
	CapLocker,
	CapChecker,
	CapBatchFetcher,
	CapSyncer,
	CapBatchPutter,
}

// Narrow returns s as an sdk.Store whose dynamic type implements exactly
// the optional interfaces caps names: a type assertion of the result to
// sdk.Configurer, sdk.Authenticator, sdk.TopFetcher, sdk.Locker (and
// LockBinder), sdk.Checker, BatchFetcher, sdk.Syncer or BatchPutter
// succeeds if and only if caps holds CapConfigurer, CapAuthenticator,
// CapTopFetcher, CapLocker, CapChecker, CapBatchFetcher, CapSyncer or
// CapBatchPutter.
// Every method of the result calls the same method of s.
//
// The result never implements sdk.Closer: the plugin's store is closed by
// sdk.Serve when the host stops the plugin, which is the host's business,
// not a call of the protocol. Unknown names in caps are ignored.
func Narrow(s Full, caps []string) sdk.Store {
	mask := 0
	for i, c := range narrowed {
		if slices.Contains(caps, c) {
			mask |= 1 << i
		}
	}
	return narrowers[mask](s, mask)
}
