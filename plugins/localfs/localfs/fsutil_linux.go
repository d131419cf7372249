package localfs

import "golang.org/x/sys/unix"

// linuxCalls says to use the Linux-only system calls: renameat2
// RENAME_NOREPLACE (renameNoReplace), openat2 RESOLVE_BENEATH
// (openBeneath) and syncfs (Sync, which lets a deferred Put leave its
// file's fsync to the barrier). Tests clear it to take, on Linux, the way
// of the other systems (fsutil_other.go).
var linuxCalls = true

// exclusiveRename is renameat2 with RENAME_NOREPLACE (see renameExcl).
func exclusiveRename(odfd int, oldName string, ndfd int, newName string) error {
	if !linuxCalls {
		return unix.ENOSYS
	}
	return unix.Renameat2(odfd, oldName, ndfd, newName, unix.RENAME_NOREPLACE)
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
