//go:build unix

package storehost

import (
	"os"
	"path/filepath"
	"syscall"
)

// privateDir reports whether dir, a directory this process just created,
// can be reached only by this process's user and root: dir itself is
// owned by the effective uid and closed to group and others, and every
// directory above it is owned by that uid or root and writable by no one
// else unless sticky, so that no other user can rename dir or a parent
// away and put a directory of their own in its place. A symlink on the
// way, or a stat that fails, is "no" (the link's own directory would need
// the same check).
//
// A unix socket in such a directory can be opened only by processes of
// the same user or root, which can read what the plugin serves anyway;
// launch drops go-plugin's mutual TLS for plugins whose socket lives there
// (see the package doc).
func privateDir(dir string) bool {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	uid := uint32(os.Geteuid())
	fi, err := os.Lstat(abs)
	if err != nil || !fi.IsDir() || fi.Mode().Perm()&0o077 != 0 || !ownedBy(fi, uid) {
		return false
	}
	for p := filepath.Dir(abs); ; p = filepath.Dir(p) {
		fi, err := os.Lstat(p)
		if err != nil || !fi.IsDir() {
			return false
		}
		if !ownedBy(fi, uid) && !ownedBy(fi, 0) {
			return false
		}
		if fi.Mode().Perm()&0o022 != 0 && fi.Mode()&os.ModeSticky == 0 {
			return false
		}
		if p == filepath.Dir(p) {
			return true
		}
	}
}

func ownedBy(fi os.FileInfo, uid uint32) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Uid == uid
}
