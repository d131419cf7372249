package pluginhost

import (
	"context"
	"testing"

	"github.com/izyware/izypop3/sdk"
)

// TestNarrow checks every combination of capabilities: each optional
// interface is on the result exactly when its capability is listed, and
// sdk.Closer never is.
func TestNarrow(t *testing.T) {
	full := NewRemote(nil)
	has := map[string]func(sdk.Store) bool{
		CapConfigurer:    func(s sdk.Store) bool { _, ok := s.(sdk.Configurer); return ok },
		CapAuthenticator: func(s sdk.Store) bool { _, ok := s.(sdk.Authenticator); return ok },
		CapTopFetcher:    func(s sdk.Store) bool { _, ok := s.(sdk.TopFetcher); return ok },
		CapLocker: func(s sdk.Store) bool {
			_, ok := s.(sdk.Locker)
			_, ok2 := s.(LockBinder)
			return ok && ok2
		},
		CapChecker:      func(s sdk.Store) bool { _, ok := s.(sdk.Checker); return ok },
		CapBatchFetcher: func(s sdk.Store) bool { _, ok := s.(BatchFetcher); return ok },
		CapSyncer:       func(s sdk.Store) bool { _, ok := s.(sdk.Syncer); return ok },
		CapBatchPutter:  func(s sdk.Store) bool { _, ok := s.(BatchPutter); return ok },
	}
	if len(has) != len(narrowed) {
		t.Fatalf("the test knows %d capabilities, Narrow %d", len(has), len(narrowed))
	}
	for mask := range 1 << len(narrowed) {
		caps := []string{CapCloser, "unknown"}
		for i, c := range narrowed {
			if mask&(1<<i) != 0 {
				caps = append(caps, c)
			}
		}
		s := Narrow(full, caps)
		for i, c := range narrowed {
			if want := mask&(1<<i) != 0; has[c](s) != want {
				t.Errorf("Narrow(%v): implements %s = %v, want %v", caps, c, !want, want)
			}
		}
		if _, ok := s.(sdk.Closer); ok {
			t.Errorf("Narrow(%v) implements sdk.Closer", caps)
		}
		if lb, ok := s.(LockBinder); ok {
			bound := lb.Bind("m", "t")
			for i, c := range narrowed {
				if want := mask&(1<<i) != 0; has[c](bound) != want {
					t.Errorf("Narrow(%v).Bind: implements %s = %v, want %v", caps, c, !want, want)
				}
			}
		}
	}
}

// TestNarrowCalls checks that the narrowed value's methods reach the
// plugin.
func TestNarrowCalls(t *testing.T) {
	r := serve(t, &memFull{memStore: newMemStore()})
	info, err := r.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s := Narrow(r, info.Capabilities)
	l, ok := s.(sdk.Locker)
	if !ok {
		t.Fatalf("a store with Lock narrowed by %v is no sdk.Locker", info.Capabilities)
	}
	tok, err := l.Lock(context.Background(), "m")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Unlock(context.Background(), "m", tok); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(context.Background(), "m"); err != nil {
		t.Fatal(err)
	}
}
