package cloudstore_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/izyware/izypop3/internal/s3test"
	"github.com/izyware/izypop3/plugins/cloud/cloudstore"
	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/storetest"
)

// newStore returns a store on a fresh prefix of srv's bucket.
func newStore(t *testing.T, srv *s3test.Server, extra map[string]string) *cloudstore.Store {
	t.Helper()
	s := cloudstore.New(nil)
	cfg := srv.Config(t.Name())
	for k, v := range extra {
		cfg[k] = v
	}
	if err := s.Configure(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	srv := s3test.StartFake(t)
	storetest.Run(t, func(t *testing.T) sdk.Store { return newStore(t, srv, nil) })
}

func TestConformanceGRPC(t *testing.T) {
	srv := s3test.StartFake(t)
	storetest.RunGRPC(t, func(t *testing.T) sdk.Store { return newStore(t, srv, nil) })
}

// Against a real SeaweedFS (SigV4 checked, real listing, conditional
// writes and copy semantics): the suite once, and the arrival order of
// messages stored within the same second (its Last-Modified has whole
// seconds, so only the names can keep them in order).
func TestSeaweed(t *testing.T) {
	srv := s3test.StartSeaweed(t)
	t.Run("Conformance", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) sdk.Store { return newStore(t, srv.Server, nil) })
	})
	t.Run("ArrivalOrder", func(t *testing.T) {
		s := newStore(t, srv.Server, nil)
		var uids []string
		for i := range 300 {
			r, err := s.Put(t.Context(), "inbox", sdk.PutOptions{}, strings.NewReader(fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n", i)))
			if err != nil {
				t.Fatal(err)
			}
			uids = append(uids, r.UID)
		}
		items := storetest.List(t, newStore(t, srv.Server, nil), "inbox")
		if len(items) != len(uids) {
			t.Fatalf("listed %d, want %d", len(items), len(uids))
		}
		for i, it := range items {
			if it.UID != uids[i] {
				t.Fatalf("item %d is %s, want %s: not in the order of the Puts", i, it.UID, uids[i])
			}
		}
	})
}
