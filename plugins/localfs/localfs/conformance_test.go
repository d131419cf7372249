package localfs_test

import (
	"testing"

	"github.com/izyware/izypop3/plugins/localfs/localfs"
	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/storetest"
)

func newConfigured(t *testing.T, layout string) *localfs.Store {
	t.Helper()
	s := &localfs.Store{}
	if err := s.Configure(t.Context(), map[string]string{"path": t.TempDir(), "layout": layout}); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformanceEML(t *testing.T) {
	storetest.Run(t, func(t *testing.T) sdk.Store { return newConfigured(t, "eml") })
}

func TestConformanceMaildir(t *testing.T) {
	storetest.Run(t, func(t *testing.T) sdk.Store { return newConfigured(t, "maildir") })
}

func TestConformanceGRPC(t *testing.T) {
	for _, layout := range []string{"eml", "maildir"} {
		t.Run(layout, func(t *testing.T) {
			storetest.RunGRPC(t, func(t *testing.T) sdk.Store { return newConfigured(t, layout) })
		})
	}
}
