package localfs

import "golang.org/x/sys/unix"

// linuxCalls says to use the Linux-only system calls: renameat2
// RENAME_NOREPLACE (renameNoReplace), openat2 RESOLVE_BENEATH
// (openBeneath) and syncfs (Sync, which lets a deferred Put leave its
// file's fsync to the barrier). Tests clear it to take, on Linux, the way
// of the other systems (fsutil_other.go).
var linuxCalls = true

// renameExcl renames without replacing: renameat2 RENAME_NOREPLACE, or
// linkUnlink on filesystems without it.
func renameExcl(odfd int, oldName string, ndfd int, newName string) error {
	if !linuxCalls {
		return linkUnlink(odfd, oldName, ndfd, newName)
	}
	err := unix.Renameat2(odfd, oldName, ndfd, newName, unix.RENAME_NOREPLACE)
	if err == unix.EINVAL || err == unix.ENOSYS || err == unix.ENOTSUP {
		err = linkUnlink(odfd, oldName, ndfd, newName)
	}
	return err
}

// openat2Beneath is openBeneath's openat2 from the directory dfd.
func openat2Beneath(dfd int, rel string) (int, error) {
	if !linuxCalls {
		return -1, unix.ENOSYS
	}
	for {
		fd, err := unix.Openat2(dfd, rel, &unix.OpenHow{
			Flags:   unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_BENEATH,
		})
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// syncfs writes back the whole filesystem holding the open file fd.
func syncfs(fd int) error { return unix.Syncfs(fd) }
