package localfs

import (
	"errors"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// All file operations on messages go through a directory opened with
// os.Root (so it is under ROOT, whatever symlinks lie on the way) plus *at
// system calls on a single base name read from that directory or generated
// by the store (never a '/' in it); on Linux Fetch opens the file in one
// openat2 with RESOLVE_BENEATH from the root instead, and falls back to
// that way when the kernel refuses. Message files are opened with O_NOFOLLOW and
// stat'ed with AT_SYMLINK_NOFOLLOW: a symlink is never a message and is
// never followed.

// durabilityHook, when set (tests only), is told each durability step of a
// Put in order: "fsync-file", "rename", "fsync-dir".
var durabilityHook func(step string)

func durabilityStep(step string) {
	if durabilityHook != nil {
		durabilityHook(step)
	}
}

// xattrMeta is the extended attribute a Put gives a message file: the size
// the file must have (decimal; "-" when the Put was durable, so no size is
// needed), a space, and the SourceID (possibly empty). One attribute, not
// two: on ext4 with 256-octet inodes a second attribute no longer fits in
// the inode and costs an extra block per message (measured: 8 sectors per
// file with two, none with one value of up to 64 octets).
const xattrMeta = "user.izypop3"

// Attributes of files written before xattrMeta (still read): the SourceID,
// and the size of a deferred Put.
const (
	xattrSourceID = "user.izypop3.sourceid"
	xattrSize     = "user.izypop3.size"
)

// dirFD returns the descriptor of an open directory. The *os.File must stay
// open (and reachable) while the descriptor is in use.
func dirFD(d *os.File) int { return int(d.Fd()) }

// statAt lstat's name in the directory d.
func statAt(d *os.File, name string) (unix.Stat_t, error) {
	var st unix.Stat_t
	err := unix.Fstatat(dirFD(d), name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if err != nil {
		return st, &os.PathError{Op: "fstatat", Path: name, Err: err}
	}
	return st, nil
}

// existsAt reports whether name is in the directory d.
func existsAt(d *os.File, name string) bool {
	_, err := statAt(d, name)
	return err == nil
}

// openAt opens the regular file name in d, without following a symlink.
func openAt(d *os.File, name string, flags int, perm uint32) (*os.File, error) {
	fd, err := unix.Openat(dirFD(d), name, flags|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm)
	if err != nil {
		return nil, &os.PathError{Op: "openat", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), d.Name()+"/"+name), nil
}

// createAt creates the new regular file name in d for writing (O_EXCL,
// no symlink followed) and returns its descriptor. Put writes its message
// files through the bare descriptor: an *os.File costs an fcntl (os.NewFile
// asks whether the descriptor is non-blocking) and a finalizer per file.
func createAt(d *os.File, name string) (int, error) {
	for {
		fd, err := unix.Openat(dirFD(d), name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, filePerm)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, &os.PathError{Op: "openat", Path: name, Err: err}
		}
		return fd, nil
	}
}

// writeFD writes all of p to fd.
func writeFD(fd int, p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n, err := unix.Write(fd, p[done:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return done, err
		}
		if n == 0 {
			return done, io.ErrShortWrite
		}
		done += n
	}
	return done, nil
}

// ignoringEINTR calls fn until it returns something else than EINTR.
func ignoringEINTR(fn func() error) error {
	for {
		if err := fn(); err != unix.EINTR {
			return err
		}
	}
}

// unlinkAt removes the file name in d.
func unlinkAt(d *os.File, name string) error {
	if err := unix.Unlinkat(dirFD(d), name, 0); err != nil {
		return &os.PathError{Op: "unlinkat", Path: name, Err: err}
	}
	return nil
}

// renameNoReplace renames oldName in od to newName in nd, failing with
// os.ErrExist instead of replacing an existing file: renameat2
// RENAME_NOREPLACE on Linux, renameatx_np RENAME_EXCL on macOS, and link +
// unlink (linkUnlink) on filesystems without them and on other systems.
// If newName is already the same file as oldName, a move by link + unlink
// was cut between the two (a killed process): the unlink finishes it.
func renameNoReplace(od *os.File, oldName string, nd *os.File, newName string) error {
	err := renameExcl(dirFD(od), oldName, dirFD(nd), newName)
	if err == unix.EEXIST && sameFile(od, oldName, nd, newName) {
		err = unix.Unlinkat(dirFD(od), oldName, 0)
	}
	if err != nil {
		return &os.PathError{Op: "rename", Path: oldName + " -> " + newName, Err: err}
	}
	return nil
}

// sameFile reports whether a in ad and b in bd are one file (hard links).
func sameFile(ad *os.File, a string, bd *os.File, b string) bool {
	sa, err := statAt(ad, a)
	if err != nil {
		return false
	}
	sb, err := statAt(bd, b)
	return err == nil && sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

// renameExcl renames without replacing: the system's exclusive rename
// (exclusiveRename: renameat2 RENAME_NOREPLACE on Linux, renameatx_np
// RENAME_EXCL on macOS), else, on systems or filesystems without one,
// linkUnlink.
func renameExcl(odfd int, oldName string, ndfd int, newName string) error {
	err := exclusiveRename(odfd, oldName, ndfd, newName)
	if err == unix.EINVAL || err == unix.ENOSYS || err == unix.ENOTSUP {
		err = linkUnlink(odfd, oldName, ndfd, newName)
	}
	return err
}

// linkUnlink renames oldName in the directory odfd to newName in ndfd by a
// hard link and an unlink of the old name: link fails on an existing name,
// so nothing is replaced. A crash between the two leaves both names; the
// old one is a temp file, removed once stale.
func linkUnlink(odfd int, oldName string, ndfd int, newName string) error {
	err := unix.Linkat(odfd, oldName, ndfd, newName, 0)
	if err == nil {
		err = unix.Unlinkat(odfd, oldName, 0)
	}
	return err
}

// xattrTruncates: FreeBSD's extattr_get_fd, under x/sys's Fgetxattr, cuts
// a value to the buffer instead of failing with ERANGE.
const xattrTruncates = runtime.GOOS == "freebsd"

// getXattr reads the attribute name of an open file (nil if absent or
// unsupported, or longer than maxSourceIDLen + 32).
func getXattr(f *os.File, name string) []byte {
	buf := make([]byte, 256)
	n, err := unix.Fgetxattr(int(f.Fd()), name, buf)
	if errors.Is(err, unix.ERANGE) || (xattrTruncates && err == nil && n == len(buf)) {
		sz, err2 := unix.Fgetxattr(int(f.Fd()), name, nil)
		if err2 != nil || sz > maxSourceIDLen+32 {
			return nil
		}
		buf = make([]byte, sz)
		n, err = unix.Fgetxattr(int(f.Fd()), name, buf)
	}
	if err != nil || n < 0 {
		return nil
	}
	return buf[:n]
}

// fileMeta is what the attributes of a message file record.
type fileMeta struct {
	sourceID string // "" if none
	size     int64  // the size the file must have; -1 if not recorded
}

// getFileMeta reads the attributes of an open message file: xattrMeta, or
// else the two older ones.
func getFileMeta(f *os.File) fileMeta {
	if v := getXattr(f, xattrMeta); v != nil {
		if fm, ok := parseFileMeta(string(v)); ok {
			return fm
		}
	}
	fm := fileMeta{size: -1}
	if v := getXattr(f, xattrSourceID); len(v) <= maxSourceIDLen {
		fm.sourceID = string(v)
	}
	if v := getXattr(f, xattrSize); v != nil {
		if n, err := strconv.ParseInt(string(v), 10, 64); err == nil && n >= 0 {
			fm.size = n
		}
	}
	return fm
}

// formatFileMeta is the value of xattrMeta; size < 0 records no size.
func formatFileMeta(sourceID string, size int64) string {
	if size < 0 {
		return "- " + sourceID
	}
	return strconv.FormatInt(size, 10) + " " + sourceID
}

func parseFileMeta(v string) (fileMeta, bool) {
	sz, src, ok := strings.Cut(v, " ")
	if !ok || len(src) > maxSourceIDLen {
		return fileMeta{}, false
	}
	fm := fileMeta{sourceID: src, size: -1}
	if sz != "-" {
		n, err := strconv.ParseInt(sz, 10, 64)
		if err != nil || n < 0 {
			return fileMeta{}, false
		}
		fm.size = n
	}
	return fm, true
}

// setFileMeta records the SourceID and (size >= 0) the size a file must
// have on an open file, in one attribute. A filesystem without user xattrs
// is not an error (the file name still carries the SourceID's hash), nor is
// an inode without room for the attribute (ENOSPC/E2BIG: ext4 keeps xattrs
// in one block; the index and the name hash still have the SourceID).
// recorded says whether the attribute was written.
func setFileMeta(fd int, sourceID string, size int64) (recorded bool, err error) {
	err = ignoringEINTR(func() error { return unix.Fsetxattr(fd, xattrMeta, []byte(formatFileMeta(sourceID, size)), 0) })
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.E2BIG) || errors.Is(err, unix.ENOSPC):
		return false, nil
	}
	return false, err
}

// isNotExist reports a missing file or directory.
func isNotExist(err error) bool {
	return errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOENT)
}

// renameAt renames oldName to newName inside d, replacing newName.
func renameAt(d *os.File, oldName, newName string) error {
	if err := unix.Renameat(dirFD(d), oldName, dirFD(d), newName); err != nil {
		return &os.PathError{Op: "renameat", Path: oldName + " -> " + newName, Err: err}
	}
	return nil
}

// readDirBufSize is the getdents(2) buffer of readNames.
const readDirBufSize = 64 * 1024

// readNames lists the entry names of the open directory d (without "." and
// ".."). Unlike os.File.ReadDir it never stats entries (Go's ReadDir lstat's
// every entry whose type the filesystem does not report); the caller stats
// the ones it wants with statAt.
func readNames(d *os.File) ([]string, error) {
	buf := make([]byte, readDirBufSize)
	var names []string
	for {
		n, err := unix.ReadDirent(dirFD(d), buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "getdents", Path: d.Name(), Err: err}
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
}

// topDir is the root directory open for openBeneath.
type topDir struct {
	f  *os.File
	rc syscall.RawConn // f's descriptor, used without making it blocking (Fd does)
}

func openTop(root *os.Root) (*topDir, error) {
	f, err := root.Open(".")
	if err != nil {
		return nil, err
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &topDir{f: f, rc: rc}, nil
}

func (t *topDir) Close() error { return t.f.Close() }

// openBeneath opens the file at rel (relative, no "..") for reading in one
// call that fails rather than resolve outside the root and does not follow
// a symlink as the last component (openat2 RESOLVE_BENEATH, Linux only).
// Any error but ENOENT (no openat2, a path the kernel will not resolve
// beneath the root, a symlink) sends the caller to the os.Root way, which
// then decides.
func (t *topDir) openBeneath(rel string) (int, error) {
	fd, err := -1, error(unix.ENOSYS)
	cerr := t.rc.Control(func(dfd uintptr) {
		fd, err = openat2Beneath(int(dfd), rel)
	})
	if cerr != nil {
		return -1, cerr
	}
	return fd, err
}

// msgFile reads an open message file with read(2) on its descriptor. It
// stops at the size fstat gave when it was opened, and the read that
// reaches it returns io.EOF too, so a message read into a large enough
// buffer takes one system call. It is not safe for concurrent use.
type msgFile struct {
	fd   int // -1 once closed
	left int64
}

func (f *msgFile) Read(p []byte) (int, error) {
	if f.fd < 0 {
		return 0, os.ErrClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	if f.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > f.left {
		p = p[:f.left]
	}
	for {
		n, err := unix.Read(f.fd, p)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return 0, &os.PathError{Op: "read", Path: "message", Err: err}
		case n == 0:
			f.left = 0 // shrunk since it was opened
			return 0, io.EOF
		}
		f.left -= int64(n)
		if f.left == 0 {
			return n, io.EOF
		}
		return n, nil
	}
}

func (f *msgFile) Close() error {
	if f.fd < 0 {
		return os.ErrClosed
	}
	err := unix.Close(f.fd)
	f.fd = -1
	return err
}
