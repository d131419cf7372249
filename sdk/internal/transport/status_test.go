package transport

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestStatusMappingTable(t *testing.T) {
	want := map[error]codes.Code{
		ErrNotFound: codes.NotFound, ErrAuthFailed: codes.Unauthenticated, ErrInUse: codes.Aborted,
		ErrUnavailable: codes.Unavailable, ErrInvalid: codes.InvalidArgument,
		ErrUnsupported: codes.Unimplemented, ErrConflict: codes.AlreadyExists,
		context.Canceled: codes.Canceled, context.DeadlineExceeded: codes.DeadlineExceeded,
	}
	for e, code := range want {
		if got := status.Code(ToStatus(fmt.Errorf("x: %w", e))); got != code {
			t.Errorf("%v → %v, want %v", e, got, code)
		}
		back := FromStatus(context.Background(), status.Error(code, "msg"))
		if !errors.Is(back, e) {
			t.Errorf("%v → %v does not unwrap to %v", code, back, e)
		}
		if status.Code(back) != code {
			t.Errorf("converted error lost its code: %v", status.Code(back))
		}
	}
	// gRPC's own "connection closing" is a transport failure, not a cancel.
	if err := FromStatus(context.Background(), status.Error(codes.Canceled, "grpc: the client connection is closing")); !errors.Is(err, ErrUnavailable) {
		t.Errorf("closing connection → %v, want ErrUnavailable", err)
	}
	if err := FromStatus(context.Background(), status.Error(codes.Unavailable, "error reading from server: EOF")); !errors.Is(err, ErrUnavailable) {
		t.Errorf("broken connection → %v, want ErrUnavailable", err)
	}
}
