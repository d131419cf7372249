package localfs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/izyware/izypop3/sdk"
)

// heldLock is one maildrop lock: an open lock file with an flock on it, or
// for a read-only maildrop without a lock file (f nil) a lock of this
// process only.
type heldLock struct {
	mailbox string
	f       *os.File
}

// Lock implements sdk.Locker with flock(2) on ROOT/M/izypop3.lock. flock
// locks belong to the open file, so two Stores in one process exclude each
// other as well as two processes do, and the kernel drops the lock when
// the process dies.
//
// A mailbox directory that does not exist is made for the lock file, and
// Unlock removes a mailbox directory that holds nothing but the lock
// file, with the lock file: a login name that never received mail leaves
// nothing behind (with one shared --password, every name a client tries
// would otherwise stay as a directory). Such a directory holds no mail
// and no state; a Put makes it again. A lock file removed under a waiting
// locker is the classic race of removable lock files; Lock closes it by
// checking, once it holds the flock, that the lock file's name still
// leads to the file it locked, and starts again if not.
func (s *Store) Lock(ctx context.Context, mailbox string) (string, error) {
	if err := checkMailbox(mailbox); err != nil {
		return "", err
	}
	for range 8 {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		tok, err := s.lockOnce(mailbox)
		if err != errLockMoved {
			return tok, err
		}
	}
	return "", fmt.Errorf("%w: localfs: mailbox %q is locked", sdk.ErrInUse, mailbox)
}

// errLockMoved: the lock file Lock locked was removed by its previous
// holder's Unlock; Lock tries again.
var errLockMoved = errors.New("localfs: lock file removed underneath")

func (s *Store) lockOnce(mailbox string) (string, error) {
	root, _, err := s.state()
	if err != nil {
		return "", err
	}
	// No fsync of the root for a new directory: it matters no more than
	// its lock file does.
	mkErr := root.Mkdir(mailbox, dirPerm)
	if mkErr != nil && !errors.Is(mkErr, fs.ErrExist) && !readOnly(mkErr) {
		return "", fmt.Errorf("localfs: %w", mkErr)
	}
	d, err := root.Open(mailbox)
	if err != nil {
		if isNotExist(err) && (mkErr == nil || errors.Is(mkErr, fs.ErrExist)) {
			return "", errLockMoved // removed by an Unlock since our Mkdir
		}
		return "", fmt.Errorf("localfs: %w", err)
	}
	f, err := openAt(d, lockName, os.O_RDWR|os.O_CREATE, filePerm)
	if err != nil && readOnly(err) {
		// A read-only maildrop: lock an existing lock file read-only, or,
		// if there is none, lock it in this process only. Nothing can
		// change a maildrop this store may not write to, so sessions in
		// other processes cannot lose or double a change either.
		f, err = openAt(d, lockName, os.O_RDONLY, 0)
		if err != nil && (isNotExist(err) || readOnly(err)) {
			d.Close()
			return s.addLock(mailbox, nil)
		}
	}
	if err != nil {
		d.Close()
		if isNotExist(err) {
			return "", errLockMoved // the directory went with an Unlock
		}
		return "", fmt.Errorf("localfs: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		d.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return "", fmt.Errorf("%w: localfs: mailbox %q is locked", sdk.ErrInUse, mailbox)
		}
		return "", fmt.Errorf("localfs: flock %s: %w", path.Join(mailbox, lockName), err)
	}
	d.Close()
	// The previous holder may have removed the lock file (and its
	// directory) between our open and our flock.
	var held unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &held); err != nil {
		f.Close()
		return "", fmt.Errorf("localfs: fstat %s: %w", path.Join(mailbox, lockName), err)
	}
	fi, err := root.Lstat(path.Join(mailbox, lockName))
	var namedDev, namedIno uint64 // the type of Dev differs between systems
	if err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			namedDev, namedIno = uint64(st.Dev), st.Ino
		}
	}
	if err != nil || namedDev != uint64(held.Dev) || namedIno != held.Ino {
		f.Close()
		if err != nil && !isNotExist(err) {
			return "", fmt.Errorf("localfs: %w", err)
		}
		return "", errLockMoved
	}
	return s.addLock(mailbox, f)
}

// addLock records a lock under a new token: an flock'd lock file, or with f
// nil a lock of this process only, refused while another is held.
func (s *Store) addLock(mailbox string, f *os.File) (string, error) {
	var tb [16]byte
	if _, err := rand.Read(tb[:]); err != nil {
		if f != nil {
			f.Close()
		}
		return "", err
	}
	token := hex.EncodeToString(tb[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		if f != nil {
			f.Close()
		}
		return "", fmt.Errorf("%w: localfs: store closed", sdk.ErrUnavailable)
	}
	if f == nil {
		for _, l := range s.locks {
			if l.mailbox == mailbox && l.f == nil {
				return "", fmt.Errorf("%w: localfs: mailbox %q is locked", sdk.ErrInUse, mailbox)
			}
		}
	}
	s.locks[token] = &heldLock{mailbox: mailbox, f: f}
	return token, nil
}

// Unlock implements sdk.Locker. An unknown token, or one for another
// mailbox, is sdk.ErrInvalid. A mailbox directory that holds nothing but
// the lock file is removed, still under the flock, and the store forgets
// the mailbox.
func (s *Store) Unlock(ctx context.Context, mailbox, token string) error {
	s.mu.Lock()
	l := s.locks[token]
	if l == nil || l.mailbox != mailbox {
		s.mu.Unlock()
		return fmt.Errorf("%w: localfs: no lock %q on mailbox %q", sdk.ErrInvalid, token, mailbox)
	}
	delete(s.locks, token)
	root := s.root
	s.mu.Unlock()
	if l.f == nil {
		return nil
	}
	if root != nil && s.removeIfEmpty(root, mailbox) {
		s.forget(mailbox)
	}
	return l.f.Close() // closing the last descriptor releases the flock
}

// removeIfEmpty removes the directory of mailbox and its lock file if they
// are all it holds. Called with the mailbox's flock held.
func (s *Store) removeIfEmpty(root *os.Root, mailbox string) bool {
	d, err := root.Open(mailbox)
	if err != nil {
		return false
	}
	names, _ := d.Readdirnames(3)
	if len(names) != 1 || names[0] != lockName {
		d.Close()
		return false
	}
	err = unlinkAt(d, lockName)
	d.Close()
	if err != nil {
		return false
	}
	// A Put that made a folder since Readdirnames keeps the directory:
	// rmdir fails on a directory that is not empty.
	return root.Remove(mailbox) == nil
}

// forget drops what the store keeps of a mailbox whose directory is gone,
// unless it is locked again or in use by a Put.
func (s *Store) forget(mailbox string) {
	if mb := s.forgetLocked(mailbox); mb != nil {
		// It may still hold open folders (see dir) of the removed
		// directory.
		mb.closeFiles()
	}
}

func (s *Store) forgetLocked(mailbox string) *mailbox {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.locks {
		if l.mailbox == mailbox {
			return nil
		}
	}
	for k := range s.ensured {
		if k == mailbox || strings.HasPrefix(k, mailbox+"/") {
			delete(s.ensured, k)
		}
	}
	mb := s.mboxes[mailbox]
	// mb.mu is taken before s.mu everywhere else: only try it. A mailbox
	// in use stays.
	if mb == nil || !mb.mu.TryLock() {
		return nil
	}
	delete(s.mboxes, mailbox)
	mb.mu.Unlock()
	return mb
}

func (s *Store) releaseLocksLocked() {
	for t, l := range s.locks {
		if l.f != nil {
			l.f.Close()
		}
		delete(s.locks, t)
	}
}

// readOnly reports errors of a directory the store may not write to.
func readOnly(err error) bool {
	return errors.Is(err, unix.EROFS) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM)
}
