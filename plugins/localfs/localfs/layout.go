package localfs

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/izyware/izypop3/sdk"
)

// Layout names a way of laying out a mailbox on disk.
type Layout string

const (
	// LayoutEML is the seed's layout: ROOT/M/*.eml are unread, every other
	// tag is a subfolder ROOT/M/<tag>/*.eml.
	LayoutEML Layout = "eml"
	// LayoutMaildir makes ROOT/M a Maildir holding the unread messages and
	// every other tag a Maildir++ subfolder ROOT/M/.<tag>.
	LayoutMaildir Layout = "maildir"
)

func (l Layout) valid() error {
	switch l {
	case LayoutEML, LayoutMaildir:
		return nil
	}
	return fmt.Errorf("%w: mimestore.layout %q: want %q or %q", sdk.ErrInvalid, string(l), LayoutEML, LayoutMaildir)
}

// Names inside a mailbox directory that are not messages.
const (
	emlExt    = ".eml"
	tmpDir    = "tmp"           // temp files of Put (Maildir tmp/; the eml layout uses one too)
	indexName = "izypop3-index" // the metadata cache (see index.go)
	lockName  = "izypop3.lock"  // flock target of Lock
	// maildirFolderMarker is the empty file Maildir++ puts in a subfolder.
	maildirFolderMarker = "maildirfolder"
)

// tagPrefix is the directory, relative to the mailbox directory, of a
// Maildir++ subfolder ("" for unread = the Maildir itself).
func tagPrefix(t sdk.Tag) string {
	if t == sdk.TagUnread {
		return ""
	}
	return "." + string(t)
}

// msgDirs are the directories (relative to the mailbox directory) that hold
// the messages of tag t, in listing order.
func (l Layout) msgDirs(t sdk.Tag) []string {
	if l == LayoutMaildir {
		p := tagPrefix(t)
		return []string{path.Join(p, "new"), path.Join(p, "cur")}
	}
	if t == sdk.TagUnread {
		return []string{"."}
	}
	return []string{string(t)}
}

// putDirs are the directory where Put writes its temp file for tag t and
// the one where the finished message is renamed to.
func (l Layout) putDirs(t sdk.Tag) (tmp, dest string) {
	if l == LayoutMaildir {
		p := tagPrefix(t)
		return path.Join(p, tmpDir), path.Join(p, "new")
	}
	return tmpDir, l.msgDirs(t)[0]
}

// dirsToCreate are the directories a Put or move into tag t needs.
func (l Layout) dirsToCreate(t sdk.Tag) []string {
	if l == LayoutMaildir {
		p := tagPrefix(t)
		return []string{path.Join(p, tmpDir), path.Join(p, "new"), path.Join(p, "cur")}
	}
	if t == sdk.TagUnread {
		return []string{tmpDir}
	}
	return []string{tmpDir, string(t)}
}

// parse tells whether a directory entry is a message and returns its key
// (the part of the name that stays the same across tag changes) and the
// UID it gets if that is a valid UID.
func (l Layout) parse(name string) (key, uidCandidate string, ok bool) {
	if name == "" || name[0] == '.' {
		return "", "", false // Maildir: dot files are not messages; eml: hidden files
	}
	if l == LayoutMaildir {
		base, _ := splitInfo(name)
		return base, base, base != ""
	}
	if !strings.HasSuffix(name, emlExt) || len(name) == len(emlExt) {
		return "", "", false
	}
	return name, strings.TrimSuffix(name, emlExt), true
}

// fileName is the name a new message with unique base name u gets.
func (l Layout) fileName(u string) string {
	if l == LayoutMaildir {
		return u
	}
	return u + emlExt
}

// moveTarget is where a message named name in directory dir goes when it
// is tagged to: the directory and the new name. The key (and so the UID) is
// kept. Maildir: the new/ or cur/ part and the flags are kept, except that
// archive (a message served by POP3) goes to cur/ with the S (seen) flag;
// a message entering cur/ gets a ":2," info if it has none.
func (l Layout) moveTarget(name, dir string, to sdk.Tag) (newDir, newName string) {
	if l != LayoutMaildir {
		return l.msgDirs(to)[0], name
	}
	sub := path.Base(dir) // "new" or "cur"
	base, info := splitInfo(name)
	if to == sdk.TagArchive {
		sub = "cur"
		info = addFlag(info, 'S')
	}
	if sub == "cur" && info == "" {
		info = ":2,"
	}
	return path.Join(tagPrefix(to), sub), base + info
}

// splitInfo splits a Maildir file name into its base and its info part
// (":2,FLAGS"; everything from the first ':').
func splitInfo(name string) (base, info string) {
	if i := strings.IndexByte(name, ':'); i >= 0 {
		return name[:i], name[i:]
	}
	return name, ""
}

// addFlag adds a flag to a Maildir info part, keeping flags sorted (the
// Maildir spec requires ASCII order). Experimental ":1," infos are kept.
func addFlag(info string, flag byte) string {
	if info == "" {
		return ":2," + string(flag)
	}
	if !strings.HasPrefix(info, ":2,") {
		return info
	}
	flags := []byte(info[3:])
	for _, f := range flags {
		if f == flag {
			return info
		}
	}
	flags = append(flags, flag)
	sort.Slice(flags, func(i, j int) bool { return flags[i] < flags[j] })
	return ":2," + string(flags)
}
