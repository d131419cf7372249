//go:build !darwin

package localfs

import "golang.org/x/sys/unix"

// fsyncFD makes the file fd durable: fsync(2).
func fsyncFD(fd int) error { return unix.Fsync(fd) }
