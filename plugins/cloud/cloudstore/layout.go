package cloudstore

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/izyware/izypop3/sdk"
)

// ctlDir is the folder, inside a mailbox's prefix, that holds everything
// that is not an unread message: the other tags, journals, uploads, the
// lock. Its objects are never listed as unread (listings of the mailbox
// prefix use the delimiter "/").
const ctlDir = ".izypop3/"

// sesSetupNotification is the object an Amazon SES receipt rule writes when
// it is created, to check that it may write to the bucket: not a message.
const sesSetupNotification = "AMAZON_SES_SETUP_NOTIFICATION"

// maxMailboxLen is the longest mailbox name (the sdk.Store contract).
const maxMailboxLen = 255

// checkMailbox enforces the sdk.Store mailbox rules (1..255 printable
// octets, no '/', '\\' or NUL, not "." or "..") and, because S3 keys are
// UTF-8, refuses names that are not valid UTF-8.
func checkMailbox(m string) error {
	if len(m) == 0 || len(m) > maxMailboxLen || m == "." || m == ".." {
		return fmt.Errorf("%w: cloud: mailbox name %.40q", sdk.ErrInvalid, m)
	}
	for i := 0; i < len(m); i++ {
		if c := m[i]; c < 0x20 || c == 0x7f || c == '/' || c == '\\' {
			return fmt.Errorf("%w: cloud: mailbox name contains %q", sdk.ErrInvalid, c)
		}
	}
	if !utf8.ValidString(m) {
		return fmt.Errorf("%w: cloud: mailbox name is not UTF-8", sdk.ErrInvalid)
	}
	return nil
}

func checkTag(t sdk.Tag) error {
	if !t.Valid() {
		return fmt.Errorf("%w: cloud: unknown tag %q", sdk.ErrInvalid, t)
	}
	return nil
}

// layout maps mailboxes and tags to keys.
type layout struct{ prefix string } // "" or "PREFIX/"

// base is the mailbox's prefix: PREFIX/M/.
func (l layout) base(m string) string { return l.prefix + m + "/" }

// tagPrefix is where the objects of one tag live.
func (l layout) tagPrefix(m string, t sdk.Tag) string {
	if t == sdk.TagUnread {
		return l.base(m)
	}
	return l.base(m) + ctlDir + string(t) + "/"
}

func (l layout) key(m string, t sdk.Tag, name string) string { return l.tagPrefix(m, t) + name }
func (l layout) journalPrefix(m string) string               { return l.base(m) + ctlDir + "journal/" }
func (l layout) incomingPrefix(m string) string              { return l.base(m) + ctlDir + "incoming/" }
func (l layout) lockKey(m string) string                     { return l.base(m) + ctlDir + "lock" }

// isMessageName reports whether a name found directly under a tag prefix
// is a message.
func isMessageName(name string) bool {
	return name != "" && name != sesSetupNotification && !strings.Contains(name, "/")
}

// precedence lists the tags in the order that decides the tag of an object
// found under several: the first wins. A message a client has deleted
// (archive) or that is known not to be new can never be served as unread
// because of a stray copy; unread comes last.
var precedence = []sdk.Tag{sdk.TagArchive, sdk.TagDup, sdk.TagConversionError, sdk.TagPOP3Failed, sdk.TagStaged, sdk.TagUnread}

func rank(t sdk.Tag) int {
	for i, p := range precedence {
		if p == t {
			return i
		}
	}
	return len(precedence)
}

// listRank is a tag's place in List order (sdk.Tags order).
func listRank(t sdk.Tag) int {
	for i, p := range sdk.Tags {
		if p == t {
			return i
		}
	}
	return len(sdk.Tags)
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// derivedUIDLen is the length of a UID derived from a name: "~" and 26
// base32 characters (130 bits of SHA-256).
const derivedUIDLen = 27

// uidOf returns the UID of the object name: the name itself when it is a
// valid unique-id that does not start with "~", else one derived from it.
// It depends on the name only.
func uidOf(name string) string {
	if sdk.ValidUID(name) && name[0] != '~' {
		return name
	}
	sum := sha256.Sum256([]byte("izypop3-cloud-uid\x00" + name))
	return "~" + strings.ToLower(b32.EncodeToString(sum[:]))[:derivedUIDLen-1]
}

// sourceHashLen is the length of the SourceID hash in names the store
// writes: 16 base32 characters (80 bits).
const sourceHashLen = 16

func sourceHash(src string) string {
	sum := sha256.Sum256([]byte(src))
	return strings.ToLower(b32.EncodeToString(sum[:10]))
}

// newName returns the name of a new object:
// "<unix seconds>.<16 base32>,W=<wire size>[,I=<source hash>]", at most 62
// octets, a valid UID, sorting by arrival. Of the 16 base32 characters the
// first 5 are letters that count the microseconds within the second (base
// 26, strictly increasing within a process), the other 11 random: S3's
// Last-Modified has whole seconds on SeaweedFS and AWS, so the name is what
// orders messages stored in the same second.
func newName(wire int64, src string) string {
	sec, sub := arrival()
	var rb [7]byte
	rand.Read(rb[:])
	var b strings.Builder
	b.WriteString(strconv.FormatInt(sec, 10))
	b.WriteByte('.')
	var sb [subLen]byte
	for i := subLen - 1; i >= 0; i-- {
		sb[i] = byte('a' + sub%26)
		sub /= 26
	}
	b.Write(sb[:])
	b.WriteString(strings.ToLower(b32.EncodeToString(rb[:]))[:16-subLen])
	b.WriteString(",W=")
	b.WriteString(strconv.FormatInt(wire, 10))
	if src != "" {
		b.WriteString(",I=")
		b.WriteString(sourceHash(src))
	}
	return b.String()
}

// subLen is the number of letters of the sub-second count in a name
// (26^5 > 10^6).
const subLen = 5

var (
	arrivalMu       sync.Mutex
	lastSec, lastUS int64
)

// arrival returns the time now as Unix seconds and microseconds within the
// second, the microseconds strictly increasing within one second of this
// process (so two names of the same second never tie).
func arrival() (sec, us int64) {
	now := time.Now()
	sec, us = now.Unix(), int64(now.Nanosecond()/1000)
	arrivalMu.Lock()
	defer arrivalMu.Unlock()
	if sec < lastSec {
		sec = lastSec // the clock stepped back: keep the order
	}
	if sec == lastSec && us <= lastUS {
		us = lastUS + 1
		if us >= 26*26*26*26*26 {
			sec, us = sec+1, 0
		}
	}
	lastSec, lastUS = sec, us
	return sec, us
}

// nameInfo is what a name the store wrote tells without a request.
type nameInfo struct {
	ours     bool
	wire     int64
	srcHash  string // "" if the message has no SourceID
	received time.Time
}

// parseName recognises names written by newName. Other names (SES's,
// anyone's) say nothing: their ",W=" could be someone else's field.
func parseName(name string) nameInfo {
	sec, rest, ok := strings.Cut(name, ".")
	if !ok || len(sec) == 0 || len(sec) > 12 || !digits(sec) || len(rest) < 16+3 || !base32Lower(rest[:16]) || rest[16:19] != ",W=" {
		return nameInfo{}
	}
	rest = rest[19:]
	w, src, hasSrc := strings.Cut(rest, ",I=")
	if len(w) == 0 || len(w) > 15 || !digits(w) {
		return nameInfo{}
	}
	if hasSrc && (len(src) != sourceHashLen || !base32Lower(src)) {
		return nameInfo{}
	}
	wire, _ := strconv.ParseInt(w, 10, 64)
	s, _ := strconv.ParseInt(sec, 10, 64)
	return nameInfo{ours: true, wire: wire, srcHash: src, received: time.Unix(s, 0)}
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func base32Lower(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// randomID returns 16 random base32 characters.
func randomID() string {
	var rb [10]byte
	rand.Read(rb[:])
	return strings.ToLower(b32.EncodeToString(rb[:]))
}
