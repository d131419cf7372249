//go:build !linux

package localfs

import "golang.org/x/sys/unix"

// linuxCalls is false: renameat2, openat2 and syncfs are Linux-only (see
// fsutil_linux.go). A variable only so that the tests build everywhere.
var linuxCalls = false

// openat2Beneath fails with ENOSYS: openBeneath's caller then opens the
// file through the os.Root.
func openat2Beneath(int, string) (int, error) { return -1, unix.ENOSYS }

// syncfs is not called (linuxCalls is false).
func syncfs(int) error { return unix.ENOSYS }
