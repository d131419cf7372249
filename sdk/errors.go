package sdk

import "github.com/izyware/izypop3/sdk/internal/transport"

// Sentinel errors. A store wraps them (fmt.Errorf("%w: ...", sdk.ErrNotFound))
// and they keep their identity across the plugin boundary: errors.Is works on
// the host side. Each maps to one status code of the wire protocol.
var (
	ErrNotFound    = transport.ErrNotFound    // "not found": no such item (status NotFound)
	ErrAuthFailed  = transport.ErrAuthFailed  // "authentication failed": wrong credentials (status Unauthenticated)
	ErrInUse       = transport.ErrInUse       // "mailbox in use": maildrop locked elsewhere (status Aborted)
	ErrUnavailable = transport.ErrUnavailable // "store unavailable": temporary, retry later (status Unavailable)
	ErrInvalid     = transport.ErrInvalid     // "invalid argument": bad mailbox, UID, tag or config (status InvalidArgument)
	ErrUnsupported = transport.ErrUnsupported // "not supported": optional capability absent (status Unimplemented)
	ErrConflict    = transport.ErrConflict    // "conflict": state changed underneath (status AlreadyExists)
)
