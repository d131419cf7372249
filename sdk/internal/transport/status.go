package transport

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// sentinelCodes pairs each sentinel error with its gRPC status code. The
// order matters when an error wraps several: the first match wins, and the
// sdk sentinels come before the context errors (a store that says
// ErrUnavailable because its backend timed out means "temporary").
var sentinelCodes = []struct {
	err  error
	code codes.Code
}{
	{ErrNotFound, codes.NotFound},
	{ErrAuthFailed, codes.Unauthenticated},
	{ErrInUse, codes.Aborted},
	{ErrUnavailable, codes.Unavailable},
	{ErrInvalid, codes.InvalidArgument},
	{ErrUnsupported, codes.Unimplemented},
	{ErrConflict, codes.AlreadyExists},
	{context.Canceled, codes.Canceled},
	{context.DeadlineExceeded, codes.DeadlineExceeded},
}

// ToStatus converts an error returned by a store into a gRPC status error
// (plugin side). A sentinel anywhere in the chain picks the code; the text is
// the error's full message. An error that already carries a status (a store
// that is itself a proxy to another plugin) keeps it.
func ToStatus(err error) error {
	if err == nil {
		return nil
	}
	for _, sc := range sentinelCodes {
		if errors.Is(err, sc.err) {
			return status.Error(sc.code, err.Error())
		}
	}
	if s, ok := status.FromError(err); ok {
		return s.Err()
	}
	return status.Error(codes.Unknown, err.Error())
}

// remoteError is an error received from a plugin: its text is the store's
// message and it unwraps to the sentinel of its status code, so errors.Is
// works on the host side. It also keeps its gRPC status, so a host that
// re-serves a Remote passes the code through unchanged.
type remoteError struct {
	sentinel error
	code     codes.Code
	msg      string
}

func (e *remoteError) Error() string              { return e.msg }
func (e *remoteError) Unwrap() error              { return e.sentinel }
func (e *remoteError) GRPCStatus() *status.Status { return status.New(e.code, e.msg) }

// FromStatus converts an error from a gRPC call back into a Go error whose
// chain holds the matching sentinel (host side). ctx is the caller's context:
// a Canceled status while ctx is still live means the connection to the
// plugin was closed underneath the call, which is a transport failure and is
// reported as ErrUnavailable.
func FromStatus(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var re *remoteError
	if errors.As(err, &re) {
		return err // already converted (a reader returning its stored error)
	}
	s, ok := status.FromError(err)
	if !ok {
		// Not from gRPC at all (should not happen); keep it, but make sure a
		// dead connection still reads as temporary.
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	code, msg := s.Code(), s.Message()
	switch code {
	case codes.Canceled:
		// gRPC's own "client connection is closing" while the caller's
		// context is live: the plugin connection went away.
		if ctx.Err() == nil && isTransportMessage(msg) {
			return transportError(msg)
		}
	case codes.Internal, codes.Unknown:
		// Unknown is what a store's plain error becomes; Internal is what
		// gRPC reports for broken framing. Neither is a sentinel.
		if code == codes.Internal && ctx.Err() == nil && isTransportMessage(msg) {
			return transportError(msg)
		}
		return &remoteError{code: code, msg: "store: " + msg}
	}
	for _, sc := range sentinelCodes {
		if sc.code == code {
			if code == codes.Unavailable && isTransportMessage(msg) {
				return transportError(msg)
			}
			if !strings.Contains(msg, sc.err.Error()) {
				msg = sc.err.Error() + ": " + msg
			}
			return &remoteError{sentinel: sc.err, code: code, msg: msg}
		}
	}
	return &remoteError{code: code, msg: "store: " + code.String() + ": " + msg}
}

// transportError reports that the plugin could not be reached or went away
// mid-call.
func transportError(msg string) error {
	return &remoteError{sentinel: ErrUnavailable, code: codes.Unavailable,
		msg: ErrUnavailable.Error() + ": plugin connection lost: " + msg}
}

// isTransportMessage reports whether a gRPC status message comes from the
// transport (connection refused, closed or reset) rather than from a store.
func isTransportMessage(msg string) bool {
	for _, s := range []string{
		"error reading from server",
		"connection error",
		"transport is closing",
		"the client connection is closing",
		"connection refused",
		"connection reset",
		"broken pipe",
		"EOF",
	} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// ItemError converts the failure of one item of a FetchBatch into an error
// with its sentinel (the mapping of FromStatus, without the transport cases:
// the stream itself is fine).
func ItemError(code codes.Code, msg string) error {
	for _, sc := range sentinelCodes {
		if sc.code == code {
			if !strings.Contains(msg, sc.err.Error()) {
				msg = sc.err.Error() + ": " + msg
			}
			return &remoteError{sentinel: sc.err, code: code, msg: msg}
		}
	}
	return &remoteError{code: code, msg: "store: " + msg}
}
