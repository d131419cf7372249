package localfs

import "golang.org/x/sys/unix"

// fsyncFD makes the file fd durable. On macOS fsync(2) leaves the data in
// the drive's cache; F_FULLFSYNC flushes it, as (*os.File).Sync does (with
// its fallback to fsync where F_FULLFSYNC is not supported, such as SMB).
func fsyncFD(fd int) error {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_FULLFSYNC, 0)
	if err == unix.ENOTSUP {
		err = unix.Fsync(fd)
	}
	return err
}
