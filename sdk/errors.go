package sdk

import "errors"

// Sentinel errors. A store wraps them (fmt.Errorf("%w: ...", sdk.ErrNotFound))
// and they keep their identity across the plugin boundary: errors.Is works on
// the host side. Each maps to one gRPC status code.
var (
	ErrNotFound    = errors.New("not found")             // no such item (codes.NotFound)
	ErrAuthFailed  = errors.New("authentication failed") // wrong credentials (codes.Unauthenticated)
	ErrInUse       = errors.New("mailbox in use")        // maildrop locked elsewhere (codes.Aborted)
	ErrUnavailable = errors.New("store unavailable")     // temporary: retry later (codes.Unavailable)
	ErrInvalid     = errors.New("invalid argument")      // bad mailbox, UID, tag or config (codes.InvalidArgument)
	ErrUnsupported = errors.New("not supported")         // optional capability absent (codes.Unimplemented)
	ErrConflict    = errors.New("conflict")              // state changed underneath (codes.AlreadyExists)
)
