package localfs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"

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
// the process dies. The lock file is never removed (removing it would let
// a second locker lock a new file while the first still holds the old one).
func (s *Store) Lock(ctx context.Context, mailbox string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := checkMailbox(mailbox); err != nil {
		return "", err
	}
	root, _, err := s.state()
	if err != nil {
		return "", err
	}
	if err := root.MkdirAll(mailbox, dirPerm); err != nil && !readOnly(err) {
		return "", fmt.Errorf("localfs: %w", err)
	}
	d, err := root.Open(mailbox)
	if err != nil {
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
	d.Close()
	if err != nil {
		return "", fmt.Errorf("localfs: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return "", fmt.Errorf("%w: localfs: mailbox %q is locked", sdk.ErrInUse, mailbox)
		}
		return "", fmt.Errorf("localfs: flock %s: %w", path.Join(mailbox, lockName), err)
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
// mailbox, is sdk.ErrInvalid.
func (s *Store) Unlock(ctx context.Context, mailbox, token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.locks[token]
	if l == nil || l.mailbox != mailbox {
		return fmt.Errorf("%w: localfs: no lock %q on mailbox %q", sdk.ErrInvalid, token, mailbox)
	}
	delete(s.locks, token)
	if l.f == nil {
		return nil
	}
	return l.f.Close() // closing the last descriptor releases the flock
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
