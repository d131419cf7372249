package transport

import "errors"

// The sentinel errors of the store contract. Package sdk exports them (as
// sdk.ErrNotFound and so on); they are defined here because the status
// mapping needs them on both sides of the connection and this package cannot
// import sdk.
var (
	ErrNotFound    = errors.New("not found")
	ErrAuthFailed  = errors.New("authentication failed")
	ErrInUse       = errors.New("mailbox in use")
	ErrUnavailable = errors.New("store unavailable")
	ErrInvalid     = errors.New("invalid argument")
	ErrUnsupported = errors.New("not supported")
	ErrConflict    = errors.New("conflict")
)
