package localfs

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/izyware/izypop3/sdk"
)

// putBufSize is the copy buffer of Put (the plugin boundary's chunk size).
const putBufSize = 256 * 1024

// putBufs keeps Put's copy buffers. Measured (perf record of a 2000 × 20 KB
// clientpop3 sync): a fresh 256 KiB buffer per Put was 3.3 % of the
// plugin's samples in the large allocation and its clearing, and most of
// its 10 % of garbage collection.
var putBufs = sync.Pool{New: func() any { b := make([]byte, putBufSize); return &b }}

// Put implements sdk.Store.
//
// The body goes to a new file in a tmp directory of the mailbox (same
// filesystem), with the SourceID as an extended attribute; the file is
// fsync'ed, renamed into place without replacing anything (renameat2
// RENAME_NOREPLACE on Linux, else link + unlink) and the target directory
// fsync'ed before Put returns (with DeferSync, see Sync). A crash at any point leaves the
// whole message or nothing visible (a leftover temp file is never listed
// and is removed after 36 hours).
func (s *Store) Put(ctx context.Context, mailbox string, opts sdk.PutOptions, body io.Reader) (sdk.PutResult, error) {
	if err := ctx.Err(); err != nil {
		return sdk.PutResult{}, err
	}
	tag := opts.Tag
	if tag == "" {
		tag = sdk.TagUnread
	}
	if err := checkTag(tag); err != nil {
		return sdk.PutResult{}, err
	}
	mb, err := s.mailbox(mailbox)
	if err != nil {
		return sdk.PutResult{}, err
	}

	// Already there? Then store nothing and drain the body.
	if opts.SourceID != "" {
		mb.mu.Lock()
		res, found, err := mb.existing(ctx, opts.SourceID)
		mb.mu.Unlock()
		if err != nil {
			return sdk.PutResult{}, err
		}
		if found {
			if _, err := io.Copy(io.Discard, ctxReader{ctx, body}); err != nil {
				return sdk.PutResult{}, err
			}
			return res, nil
		}
	}

	if err := s.ensureDirs(mb, tag); err != nil {
		return sdk.PutResult{}, err
	}
	tmpRel, _ := mb.lay.putDirs(tag)
	name := mb.lay.fileName(uniqueName(mb.lay == LayoutMaildir, opts.SourceID))
	var tmpd *os.File
	var fd int
	for attempt := 0; ; attempt++ {
		tmpd, err = mb.dir(tmpRel)
		if err == nil {
			fd, err = createAt(tmpd, name)
		}
		if err != nil && isNotExist(err) && attempt == 0 {
			// Removed underneath since ensureDirs remembered it (or since
			// the directory was opened): create again.
			s.forgetDirs(mb)
			if err = s.ensureDirs(mb, tag); err == nil {
				continue
			}
		}
		if err != nil {
			return sdk.PutResult{}, fmt.Errorf("localfs: %w", err)
		}
		break
	}

	size, wire, sum, mtime, err := writeTemp(ctx, tmpd, fd, name, opts, body)
	if err != nil {
		unlinkAt(tmpd, name)
		return sdk.PutResult{}, err
	}
	committed := false
	defer func() {
		if !committed {
			unlinkAt(tmpd, name)
		}
	}()

	mb.mu.Lock()
	defer mb.mu.Unlock()
	// Exclude Puts of other processes on this mailbox, and catch up with
	// what they stored since our last look.
	pl, err := mb.lockPuts()
	if err != nil {
		return sdk.PutResult{}, err
	}
	defer mb.donePut()
	if !mb.scanned || pl.gen != mb.putGen {
		if _, err := mb.scan(ctx); err != nil {
			return sdk.PutResult{}, err
		}
	}
	if opts.SourceID != "" {
		// A concurrent Put of the same SourceID may have won.
		if res, found, err := mb.existing(ctx, opts.SourceID); err != nil || found {
			return res, err
		}
	}
	res := sdk.PutResult{Size: size, SHA256: sum, Tag: tag}
	mb.fixMaps()
	if o := mb.bySHA[sum]; o != nil {
		res.DuplicateOf = o.uid
		res.Tag = sdk.TagDup
		if err := s.ensureDirs(mb, sdk.TagDup); err != nil {
			return sdk.PutResult{}, err
		}
	}
	if !pl.bumped {
		// Before the first rename under this taking of the lock, so that a
		// process dying with the lock held leaves the generation changed.
		mb.putGen = pl.bump()
	}
	_, destRel := mb.lay.putDirs(res.Tag)
	var destd *os.File
	for attempt := 0; ; attempt++ {
		destd, err = mb.dir(destRel)
		if err == nil {
			err = renameNoReplace(tmpd, name, destd, name)
		}
		if err != nil && isNotExist(err) && attempt == 0 && existsAt(tmpd, name) {
			// The target folder was removed underneath: create it again.
			s.forgetDirs(mb)
			if err = s.ensureDirs(mb, res.Tag); err == nil {
				continue
			}
		}
		if err != nil {
			return sdk.PutResult{}, fmt.Errorf("localfs: %w", err)
		}
		break
	}
	committed = true
	durabilityStep("rename")
	if !opts.DeferSync {
		if err := destd.Sync(); err != nil {
			// The message is in place but maybe not durable: report failure
			// (the caller retries; its SourceID makes the retry idempotent).
			return sdk.PutResult{}, fmt.Errorf("localfs: fsync %s: %w", destRel, err)
		}
		durabilityStep("fsync-dir")
	}

	key, cand, _ := mb.lay.parse(name)
	m := &meta{wire: wire, sha: sum, sourceID: opts.SourceID}
	e := &entry{key: key, cand: cand, dir: destRel, name: name, tag: res.Tag, size: size, mtime: mtime, m: m}
	e.uid = cand
	if !sdk.ValidUID(cand) || mb.byUID[cand] != nil {
		// Not expected for our own names; the next scan settles the order.
		e.uid = deriveUID(key)
	}
	res.UID = e.uid
	mb.addMaps(e)
	mb.fresh = false
	k := idxKey{key, size, mtime}
	mb.idx[k] = m
	if mb.indexLines < 0 {
		mb.saveIndex(nil, 0)
	} else {
		mb.queueIndex(formatIndexLine(k, m))
	}
	return res, nil
}

// existing returns the PutResult for an item already stored with
// sourceID. Called with mb.mu held.
func (mb *mailbox) existing(ctx context.Context, sourceID string) (sdk.PutResult, bool, error) {
	if err := mb.ensureScanned(ctx); err != nil {
		return sdk.PutResult{}, false, err
	}
	e := mb.findSource(sourceID)
	if e != nil && !mb.present(e) {
		// Moved or deleted by another process since we looked: look again,
		// so "already there" is never answered for a message that is gone.
		mb.invalidate()
		if _, err := mb.scan(ctx); err != nil {
			return sdk.PutResult{}, false, err
		}
		e = mb.findSource(sourceID)
	}
	if e == nil {
		return sdk.PutResult{}, false, nil
	}
	if !mb.whole(e) {
		// A file of a deferred Put cut short by a crash before the
		// barrier: it is not this message. Set it aside (tmp/ is never
		// listed and is cleaned after 36 hours) and store afresh.
		mb.quarantine(e)
		return sdk.PutResult{}, false, nil
	}
	return sdk.PutResult{UID: e.uid, Size: e.size, SHA256: e.m.sha, Tag: e.tag, Existing: true}, true, nil
}

// present reports whether e's file is still where the store last saw it.
func (mb *mailbox) present(e *entry) bool {
	d, err := mb.openDir(e.dir)
	if err != nil {
		return false
	}
	defer d.Close()
	_, err = statAt(d, e.name)
	return err == nil
}

// writeTemp streams body into fd, the new file name in d, and makes it
// durable (it closes fd): SourceID attribute, mtime = Received, fsync.
func writeTemp(ctx context.Context, d *os.File, fd int, name string, opts sdk.PutOptions, body io.Reader) (size, wire int64, sum string, mtime int64, err error) {
	defer func() {
		if fd >= 0 {
			unix.Close(fd)
		}
	}()
	var wc sdk.WireCounter
	// The sdk's plugin side hashes the body to check it against the host's
	// digest (sdk.Digester): that digest is taken instead of hashing the
	// message again.
	w := &teeWriter{fd: fd, d: d, name: name, wc: &wc, h: sdk.DigestOf(body)}
	bp := putBufs.Get().(*[]byte)
	size, err = io.CopyBuffer(w, ctxReader{ctx, body}, *bp)
	putBufs.Put(bp)
	if err != nil {
		if w.werr != nil {
			return 0, 0, "", 0, fmt.Errorf("localfs: write: %w", w.werr)
		}
		return 0, 0, "", 0, err
	}
	// The file of a deferred Put is not fsync'ed where the barrier is a
	// syncfs, which writes it back (Linux); elsewhere it is fsync'ed now
	// and Sync fsyncs only the directories (see Sync).
	deferSync := opts.DeferSync && linuxCalls
	if opts.SourceID != "" || deferSync {
		// A file not fsync'ed may be shorter than written after a machine
		// crash. The size it must have lets a SourceID check tell; where
		// it could not be recorded, the file is fsync'ed now instead.
		want := int64(-1)
		if deferSync {
			want = size
		}
		recorded, err := setFileMeta(fd, opts.SourceID, want)
		if err != nil {
			return 0, 0, "", 0, fmt.Errorf("localfs: %w", &os.PathError{Op: "fsetxattr", Path: d.Name() + "/" + name, Err: err})
		}
		if !recorded {
			deferSync = false
		}
	}
	if !opts.Received.IsZero() {
		ts := []unix.Timespec{unix.NsecToTimespec(opts.Received.UnixNano()), unix.NsecToTimespec(opts.Received.UnixNano())}
		if err := unix.UtimesNanoAt(dirFD(d), name, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return 0, 0, "", 0, fmt.Errorf("localfs: set received time: %w", err)
		}
	}
	// A deferred Put leaves the write-back to the barrier's syncfs, which
	// writes a whole batch in large requests. Starting it per file
	// (sync_file_range) was 6 % of the CPU of a 2000 × 20 KB clientpop3
	// sync, most of it one block request and virtio notification per
	// message.
	if !deferSync {
		if err := ignoringEINTR(func() error { return fsyncFD(fd) }); err != nil {
			return 0, 0, "", 0, fmt.Errorf("localfs: fsync %s/%s: %w", d.Name(), name, err)
		}
		durabilityStep("fsync-file")
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, 0, "", 0, fmt.Errorf("localfs: fstat %s/%s: %w", d.Name(), name, err)
	}
	if st.Size != size {
		return 0, 0, "", 0, fmt.Errorf("localfs: wrote %d octets, file has %d", size, st.Size)
	}
	err = unix.Close(fd)
	fd = -1
	if err != nil {
		return 0, 0, "", 0, fmt.Errorf("localfs: close %s/%s: %w", d.Name(), name, err)
	}
	digest := w.h.Sum()
	return size, wc.Size(), hex.EncodeToString(digest[:]), st.Mtim.Nano(), nil
}

// teeWriter writes to the file and feeds the hashes; it remembers a write
// error so it is not mistaken for a body error.
type teeWriter struct {
	fd   int
	d    *os.File // the folder of name, for errors
	name string
	h    sdk.BodyDigest
	wc   *sdk.WireCounter
	werr error
}

func (w *teeWriter) Write(p []byte) (int, error) {
	n, err := writeFD(w.fd, p)
	if err != nil {
		w.werr = &os.PathError{Op: "write", Path: w.d.Name() + "/" + w.name, Err: err}
		return n, w.werr
	}
	w.h.Write(p)
	w.wc.Write(p)
	return n, nil
}

// ctxReader fails reads once ctx is done, so a long Put honours
// cancellation between chunks.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// putLock is the cross-process Put lock of a mailbox: an flock on
// ROOT/M/izypop3-put.lock, whose content is a generation number each
// taking of the lock that stores a file increments. A store that finds a generation other than the one it left
// knows another process stored something and rescans before it checks
// SourceIDs and content, so two processes filling one mailbox do not store
// the same SourceID twice. (Directory mtimes alone cannot tell: two renames
// within one clock tick leave the same mtime.)
type putLock struct {
	f      *os.File
	gen    uint64
	epoch  uint64 // mb.dirsEpoch when it was taken
	bumped bool   // gen was incremented since it was taken
}

// putLockName is the Put lock file in a mailbox directory.
const putLockName = "izypop3-put.lock"

// lockPuts takes the Put lock of mb (blocking: another process holds it
// for a few Puts at most, see donePut) and reads the generation. A lock
// still held since an earlier Put is taken as it is, unless the mailbox's
// folders were dropped since (a folder removed underneath).
//
// The lock file stays open between Puts (mb.lockFile); each lock checks
// that the open file is still the one at ROOT/M/izypop3-put.lock (a
// removed or replaced mailbox folder would leave it locking a file no other
// process sees) and opens it again if not. Measured with the directory
// cache (strace -c of a 2000 × 20 KB clientpop3 sync): reopening the
// folder and the lock file for each Put was 4 openat, 4 close and ~8 fcntl
// per message. Called with mb.mu held.
func (mb *mailbox) lockPuts() (*putLock, error) {
	if pl := mb.held; pl != nil {
		if pl.epoch == mb.dirsEpoch.Load() {
			return pl, nil
		}
		mb.releasePuts()
	}
	for attempt := 0; ; attempt++ {
		epoch := mb.dirsEpoch.Load()
		f, err := mb.openLockFile()
		if err != nil {
			return nil, err
		}
		if err := mb.flockPuts(f); err != nil {
			mb.closeLockFile()
			return nil, fmt.Errorf("localfs: flock %s: %w", putLockName, err)
		}
		if attempt == 0 && !mb.lockFileCurrent(f) {
			mb.closeLockFile() // closing releases the flock
			mb.dropDirs()
			continue
		}
		var b [8]byte
		n, _ := f.ReadAt(b[:], 0)
		pl := &putLock{f: f, epoch: epoch}
		if n == len(b) {
			pl.gen = binary.BigEndian.Uint64(b[:])
		}
		mb.held, mb.heldPuts = pl, 0
		return pl, nil
	}
}

// putWantName is the file a process holds a shared flock on while it
// waits for the Put lock. The holder, which keeps the lock from one Put to
// the next, looks at it every putWantEvery Puts and lets the lock go when
// someone waits, then stays away until the waiter has it: flock does not
// hand a released lock to a waiter, and the holder's next Put, microseconds
// later, took it again (measured with one process putting back to back and
// another now and then: the other waited 128–160 ms, through 124–186 Puts,
// with runs of putLockRun).
const putWantName = "izypop3-put.want"

// putWantEvery is how many Puts of a run pass between looks at the want
// file (a look is two system calls).
const putWantEvery = 4

// flockPuts takes the flock of the Put lock file f, announcing the wait in
// the want file if another process holds it. Called with mb.mu held.
func (mb *mailbox) flockPuts(f *os.File) error {
	if mb.yielded {
		// Let the processes we made way for take the lock first: they hold
		// the want file shared until they have it.
		mb.yielded = false
		if w, err := mb.openWantFile(false); err == nil {
			unix.Flock(int(w.Fd()), unix.LOCK_EX)
			unix.Flock(int(w.Fd()), unix.LOCK_UN)
		}
	}
	err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if err != unix.EWOULDBLOCK {
		return err
	}
	w, werr := mb.openWantFile(true)
	if werr == nil {
		unix.Flock(int(w.Fd()), unix.LOCK_SH)
	}
	err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
	if werr == nil {
		unix.Flock(int(w.Fd()), unix.LOCK_UN)
	}
	return err
}

// othersWait reports whether another process waits for the Put lock (holds
// the want file shared; a waiter creates it). Called with mb.mu held.
func (mb *mailbox) othersWait() bool {
	w, err := mb.openWantFile(false)
	if err != nil {
		return false
	}
	if err := unix.Flock(int(w.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return err == unix.EWOULDBLOCK
	}
	unix.Flock(int(w.Fd()), unix.LOCK_UN)
	return false
}

// openWantFile returns the open want file of mb, opening it if needed
// (creating it if create is set). Called with mb.mu held.
func (mb *mailbox) openWantFile(create bool) (*os.File, error) {
	if mb.wantFile != nil {
		return mb.wantFile, nil
	}
	d, err := mb.dir(".")
	if err != nil {
		return nil, err
	}
	flags := os.O_RDONLY
	if create {
		flags = os.O_RDONLY | os.O_CREATE
	}
	f, err := openAt(d, putWantName, flags, filePerm)
	if err != nil {
		return nil, err
	}
	mb.wantFile = f
	return f, nil
}

// putLockRun is how many Puts one taking of the Put lock serves at most,
// and putLockLinger how long it stays held after a Put for the next one
// (a var for tests). A Put of another process waits for putWantEvery Puts
// at most, or that long when Puts stop, and then gets its turn. Every Put
// still writes the generation before it returns, so a process that dies
// holding the lock leaves it current. Taking and releasing the lock for
// each Put was 5 system calls per message (flock, fstat, fstatat, pread,
// flock); measured on ext4 with a journal, BenchmarkSync (in process, 8
// alternating runs) 123 → 111 µs of CPU per message.
const putLockRun = 64

var putLockLinger = 2 * time.Millisecond

// donePut ends a Put's use of the Put lock: it stays held for the next
// Put, until putLockRun Puts have had it or none came for putLockLinger.
// Called with mb.mu held.
func (mb *mailbox) donePut() {
	if mb.held == nil {
		return
	}
	if mb.heldPuts++; mb.heldPuts%putWantEvery == 0 && mb.othersWait() {
		mb.releasePuts()
		mb.yielded = true
		return
	}
	if mb.heldPuts >= putLockRun {
		mb.releasePuts()
		return
	}
	if mb.heldTimer == nil {
		mb.heldTimer = time.AfterFunc(putLockLinger, mb.releaseIdle)
	} else {
		mb.heldTimer.Reset(putLockLinger)
	}
}

// releaseIdle releases the Put lock once Puts stopped coming.
func (mb *mailbox) releaseIdle() {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	mb.releasePuts()
}

// releasePuts releases the Put lock if it is held. Called with mb.mu held.
func (mb *mailbox) releasePuts() {
	if mb.held != nil {
		unix.Flock(int(mb.held.f.Fd()), unix.LOCK_UN)
		mb.held = nil
	}
}

// openLockFile returns the open Put lock file of mb, opening it if needed.
// Called with mb.mu held.
func (mb *mailbox) openLockFile() (*os.File, error) {
	if mb.lockFile != nil {
		return mb.lockFile, nil
	}
	d, err := mb.dir(".")
	if err != nil {
		return nil, fmt.Errorf("localfs: %w", err)
	}
	f, err := openAt(d, putLockName, os.O_RDWR|os.O_CREATE, filePerm)
	if err != nil && isNotExist(err) {
		mb.dropDirs() // the folder was removed since it was opened
		if d, err = mb.dir("."); err == nil {
			f, err = openAt(d, putLockName, os.O_RDWR|os.O_CREATE, filePerm)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("localfs: %w", err)
	}
	mb.lockFile = f
	return f, nil
}

// lockFileCurrent reports whether f is the file now named izypop3-put.lock
// in the mailbox folder.
func (mb *mailbox) lockFileCurrent(f *os.File) bool {
	var st, cur unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st) != nil {
		return false
	}
	d, err := mb.dir(".")
	if err != nil {
		return false
	}
	cur, err = statAt(d, putLockName)
	return err == nil && cur.Dev == st.Dev && cur.Ino == st.Ino
}

// closeLockFile closes the Put lock file (which releases a held flock).
// Called with mb.mu held.
func (mb *mailbox) closeLockFile() {
	if mb.lockFile != nil {
		mb.lockFile.Close()
		mb.lockFile = nil
	}
	if mb.wantFile != nil {
		mb.wantFile.Close()
		mb.wantFile = nil
	}
	mb.held, mb.yielded = nil, false
}

// bump records that Puts under this taking of the lock store files, and
// returns the new generation. Once per taking is enough: no other process
// looks before it is released. Measured (BenchmarkSync, ext4 with a
// journal): writing it for every Put was 2 % of the CPU (the write puts
// the lock file's new times in the journal). A failed write is ignored:
// at worst another process misses these Puts when it checks a SourceID
// (within one process the check does not depend on it).
func (pl *putLock) bump() uint64 {
	pl.bumped = true
	pl.gen++
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], pl.gen)
	pl.f.WriteAt(b[:], 0)
	return pl.gen
}

// whole reports whether e's file has the size its deferred Put wrote
// (files of durable Puts, and files without the attribute, are whole).
func (mb *mailbox) whole(e *entry) bool {
	d, err := mb.openDir(e.dir)
	if err != nil {
		return true // present() just saw it; let the caller's later calls tell
	}
	defer d.Close()
	f, err := openAt(d, e.name, os.O_RDONLY, 0)
	if err != nil {
		return true
	}
	defer f.Close()
	want := getFileMeta(f).size
	if want < 0 {
		return true
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return true
	}
	return st.Size == want
}

// quarantine moves a torn file into the mailbox's tmp folder, out of the
// listing, and forgets it.
func (mb *mailbox) quarantine(e *entry) {
	tmpRel, _ := mb.lay.putDirs(sdk.TagStaged)
	err := func() error {
		from, err := mb.openDir(e.dir)
		if err != nil {
			return err
		}
		defer from.Close()
		to, err := mb.openDir(tmpRel)
		if err != nil {
			return err
		}
		defer to.Close()
		return renameNoReplace(from, e.name, to, e.name+".torn")
	}()
	if err != nil {
		mb.log.Warn("localfs: cannot set a torn message file aside", "mailbox", mb.name,
			"file", path.Join(e.dir, e.name), "err", err)
		return
	}
	mb.invalidate()
}
