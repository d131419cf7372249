package memstore_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/storetest"
	"github.com/izyware/izypop3/sdk/storetest/memstore"
)

// The reference store passes the conformance suite, directly and over gRPC.
// (The suite's own tests run it too, and check that it catches deliberately
// broken variants of this store.)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) sdk.Store { return memstore.New() })
}

func TestConformanceGRPC(t *testing.T) {
	storetest.RunGRPC(t, func(t *testing.T) sdk.Store { return memstore.New() })
}

// TestDocumented checks what the package documents beyond the suite: UIDs
// in Put order, the error of a wrong unlock token, and a Fetch reader that
// fails once its context is done.
func TestDocumented(t *testing.T) {
	ctx := t.Context()
	s := memstore.New()
	var uids []string
	for _, body := range []string{"a\r\n", "b\r\n", "c\r\n"} {
		res, err := s.Put(ctx, "INBOX", sdk.PutOptions{}, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		uids = append(uids, res.UID)
	}
	var listed []string
	for it, err := range s.List(ctx, "INBOX", sdk.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(it.UID, "mem-") {
			t.Errorf("UID %q does not start with mem-", it.UID)
		}
		listed = append(listed, it.UID)
	}
	if !slices.Equal(listed, uids) {
		t.Errorf("List = %v, want the Put order %v", listed, uids)
	}

	tok, err := s.Lock(ctx, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Unlock(ctx, "INBOX", tok+"x"); !errors.Is(err, sdk.ErrConflict) {
		t.Errorf("Unlock with a wrong token = %v, want ErrConflict", err)
	}
	if err := s.Unlock(ctx, "INBOX", tok); err != nil {
		t.Errorf("Unlock = %v", err)
	}

	fctx, cancel := context.WithCancel(ctx)
	rc, err := s.Fetch(fctx, "INBOX", uids[0])
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	cancel()
	if _, err := io.ReadAll(rc); !errors.Is(err, context.Canceled) {
		t.Errorf("read after cancel = %v, want context.Canceled", err)
	}
}
