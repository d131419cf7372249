package localfs

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/izyware/izypop3/sdk"
)

// maxMailboxLen is the longest mailbox name accepted (the sdk.Store
// contract: 1..255 octets, which is also NAME_MAX on Linux).
const maxMailboxLen = 255

// checkMailbox enforces the sdk.Store mailbox rules: 1..255 printable
// octets, no '/', '\\' or NUL, not "." or "..". Anything else is
// sdk.ErrInvalid, so a mailbox name can never name a path outside ROOT.
func checkMailbox(mailbox string) error {
	if len(mailbox) == 0 || len(mailbox) > maxMailboxLen {
		return fmt.Errorf("%w: mailbox name must be 1..%d octets", sdk.ErrInvalid, maxMailboxLen)
	}
	if mailbox == "." || mailbox == ".." {
		return fmt.Errorf("%w: mailbox name %q", sdk.ErrInvalid, mailbox)
	}
	for i := 0; i < len(mailbox); i++ {
		c := mailbox[i]
		if c < 0x20 || c == 0x7f || c == '/' || c == '\\' {
			return fmt.Errorf("%w: mailbox name contains %q", sdk.ErrInvalid, c)
		}
	}
	return nil
}

// checkTag refuses anything but the six tags.
func checkTag(t sdk.Tag) error {
	if !t.Valid() {
		return fmt.Errorf("%w: unknown tag %q", sdk.ErrInvalid, t)
	}
	return nil
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// sourceHashLen is the length of the SourceID hash kept in file names: 16
// base32 characters = 80 bits, so two different SourceIDs in one mailbox
// of a million items collide with probability below 1e-12.
const sourceHashLen = 16

// sourceField marks the SourceID hash in a file name, Dovecot style
// (",S=" and ",W=" are Dovecot's size fields; it ignores others).
const sourceField = ",I="

// sourceHash is the hash of a SourceID recorded in the file name.
func sourceHash(sourceID string) string {
	sum := sha256.Sum256([]byte(sourceID))
	return strings.ToLower(b32.EncodeToString(sum[:10]))
}

// nameSourceHash extracts the SourceID hash from a base name, "" if none.
func nameSourceHash(base string) string {
	i := strings.LastIndex(base, sourceField)
	if i < 0 {
		return ""
	}
	h := base[i+len(sourceField):]
	if len(h) < sourceHashLen {
		return ""
	}
	h = h[:sourceHashLen]
	for j := 0; j < len(h); j++ {
		c := h[j]
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return ""
		}
	}
	return h
}

// derivedUIDLen is the length of a UID derived from a name that is not a
// valid UID itself: "~" and 26 base32 characters (130 bits of SHA-256).
const derivedUIDLen = 27

// deriveUID returns the UID of a message whose name is not a valid UID. It
// depends on the name only, so it is stable across restarts and renames
// that keep the name.
func deriveUID(key string) string {
	sum := sha256.Sum256([]byte("izypop3-localfs-uid\x00" + key))
	return "~" + strings.ToLower(b32.EncodeToString(sum[:]))[:derivedUIDLen-1]
}

var (
	nameCounter atomic.Uint32
	hostPart    = maildirHost()
)

// maxHostLen bounds the host part of new file names, so that a new name
// (with its SourceID hash) stays a valid 70-octet UID.
const maxHostLen = 12

// maildirHost is the host name as the Maildir spec wants it in a unique
// name ('/' and ':' escaped), cut to maxHostLen.
func maildirHost() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "localhost"
	}
	var b strings.Builder
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c == '/':
			b.WriteString(`\057`)
		case c == ':':
			b.WriteString(`\072`)
		case c == ',' || c == '.' && i == 0:
			b.WriteString("_")
		case c < 0x21 || c > 0x7e:
			b.WriteString("_")
		default:
			b.WriteByte(c)
		}
	}
	s := b.String()
	if len(s) > maxHostLen {
		s = s[:maxHostLen]
	}
	return s
}

// pid is this process's id, for unique names (Go programs do not fork
// without exec).
var pid = os.Getpid()

// uniqueName returns a new Maildir-style unique base name:
// "<sec>.M<usec>P<pid>R<rand>" (eml) or the same plus ".<host>" (maildir),
// then ",I=<hash>" when sourceID is set. At most 67 octets.
func uniqueName(withHost bool, sourceID string) string {
	now := time.Now()
	var rb [4]byte
	if _, err := rand.Read(rb[:]); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	r := binary.BigEndian.Uint32(rb[:]) ^ nameCounter.Add(1)
	b := make([]byte, 0, 80)
	b = strconv.AppendInt(b, now.Unix(), 10)
	b = append(b, ".M"...)
	b = appendPadded(b, uint64(now.Nanosecond()/1000), 10, 6)
	b = append(b, 'P')
	b = strconv.AppendInt(b, int64(pid), 10)
	b = append(b, 'R')
	b = appendPadded(b, uint64(r), 16, 8)
	if withHost {
		b = append(b, '.')
		b = append(b, hostPart...)
	}
	if sourceID != "" {
		b = append(b, sourceField...)
		b = append(b, sourceHash(sourceID)...)
	}
	return string(b)
}

// appendPadded appends v in base (10 or 16, lower case) with leading zeros
// to width digits.
func appendPadded(b []byte, v uint64, base, width int) []byte {
	var d [20]byte
	s := strconv.AppendUint(d[:0], v, base)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}
