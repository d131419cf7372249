//go:build !linux && !darwin

package localfs

import "golang.org/x/sys/unix"

// exclusiveRename: no exclusive rename here (renameExcl links and unlinks).
func exclusiveRename(int, string, int, string) error { return unix.ENOSYS }
