//go:build !linux

package localfs

import "golang.org/x/sys/unix"

// linuxCalls is false: renameat2, openat2 and syncfs are Linux-only (see
// fsutil_linux.go). A variable only so that the tests build everywhere.
var linuxCalls = false

// renameExcl renames without replacing: the system's exclusive rename
// where it has one (renameatx_np RENAME_EXCL on macOS), else link + unlink.
func renameExcl(odfd int, oldName string, ndfd int, newName string) error {
	err := exclusiveRename(odfd, oldName, ndfd, newName)
	if err == unix.ENOTSUP || err == unix.ENOSYS || err == unix.EINVAL {
		err = linkUnlink(odfd, oldName, ndfd, newName)
	}
	return err
}

// openat2Beneath fails with ENOSYS: openBeneath's caller then opens the
// file through the os.Root.
func openat2Beneath(int, string) (int, error) { return -1, unix.ENOSYS }

// syncfs is not called (linuxCalls is false).
func syncfs(int) error { return unix.ENOSYS }
