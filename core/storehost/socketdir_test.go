//go:build unix

package storehost

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/izyware/izypop3/sdk"
)

func TestPrivateDir(t *testing.T) {
	mk := func(t *testing.T, parentMode os.FileMode) string {
		t.Helper()
		parent := filepath.Join(t.TempDir(), "parent")
		if err := os.Mkdir(parent, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(parent, parentMode); err != nil {
			t.Fatal(err)
		}
		dir, err := os.MkdirTemp(parent, "izypop3-store-")
		if err != nil {
			t.Fatal(err)
		}
		return dir
	}
	if !privateDir(mk(t, 0o700)) {
		t.Error("a 0700 directory in a 0700 parent is not private")
	}
	if !privateDir(mk(t, 0o755)) {
		t.Error("a 0700 directory in a 0755 parent is not private")
	}
	if !privateDir(mk(t, 0o777|os.ModeSticky)) {
		t.Error("a 0700 directory in a sticky 1777 parent (/tmp) is not private")
	}
	if privateDir(mk(t, 0o777)) {
		t.Error("a directory in a world-writable parent without the sticky bit counts as private")
	}
	if privateDir(mk(t, 0o775)) {
		t.Error("a directory in a group-writable parent counts as private")
	}
	loose := mk(t, 0o700)
	if err := os.Chmod(loose, 0o750); err != nil {
		t.Fatal(err)
	}
	if privateDir(loose) {
		t.Error("a 0750 directory counts as private")
	}
	target := mk(t, 0o700)
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if privateDir(link) {
		t.Error("a symlink counts as private")
	}
	if privateDir(filepath.Join(t.TempDir(), "missing")) {
		t.Error("a missing directory counts as private")
	}
}

// The plugin connection goes without mutual TLS in a private socket
// directory and with it elsewhere; both serve calls.
func TestMTLSOnlyOutsidePrivateDir(t *testing.T) {
	for _, tc := range []struct {
		name       string
		parentMode os.FileMode
		mtls       bool
	}{
		{"private", 0o700, false},
		{"world-writable", 0o777, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Not t.TempDir: a unix socket path is limited to 108 octets.
			base, err := os.MkdirTemp("", "sd")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(base) })
			parent := filepath.Join(base, "s")
			if err := os.Mkdir(parent, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(parent, tc.parentMode); err != nil {
				t.Fatal(err)
			}
			h := open(t, Options{Path: pluginTest, SocketDir: parent})
			h.mu.Lock()
			mtls := h.cur.mtls
			h.mu.Unlock()
			if mtls != tc.mtls {
				t.Errorf("mtls = %v, want %v", mtls, tc.mtls)
			}
			if _, err := h.Store().Stat(context.Background(), "INBOX"); err != nil {
				t.Fatal(err)
			}
			if err := h.Store().(sdk.Checker).Check(context.Background()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A plugin whose handshake carries a server certificate on a link the
// host did not set up TLS for fails to start with a LaunchError; it does
// not crash the host (go-plugin dereferences the TLS config it has not
// got).
func TestCertLinePluginRefused(t *testing.T) {
	base, err := os.MkdirTemp("", "sd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	h, err := Open(context.Background(), Options{Name: "certline", Path: pluginCertLine, SocketDir: base})
	if err == nil {
		h.Close()
		t.Fatal("a plugin sending a certificate on a plain link started")
	}
	var le *LaunchError
	if !errors.As(err, &le) {
		t.Fatalf("Open = %v, want a LaunchError", err)
	}
}
