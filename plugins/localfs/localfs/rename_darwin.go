package localfs

import "golang.org/x/sys/unix"

// exclusiveRename is renameatx_np with RENAME_EXCL: one system call that
// fails with EEXIST instead of replacing, leaving no window with both
// names (ENOTSUP on filesystems without it).
func exclusiveRename(odfd int, oldName string, ndfd int, newName string) error {
	return unix.RenameatxNp(odfd, oldName, ndfd, newName, unix.RENAME_EXCL)
}
