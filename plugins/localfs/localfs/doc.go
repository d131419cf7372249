// Package localfs is the localfs mimestore: messages kept as files in a
// directory tree, one file per message, one folder per tag.
//
// Two layouts are supported (config key "layout"):
//
//   - "eml" (default, the seed's layout): mailbox M is the directory ROOT/M;
//     unread messages are the *.eml files directly in it and every other tag
//     is a subfolder (archive/, staged/, dup/, pop3failed/,
//     conversionerror/), created on demand.
//   - "maildir": mailbox M is a Maildir (new/ cur/ tmp/) at ROOT/M holding
//     the unread messages; every other tag is a Maildir++ subfolder
//     (.archive, .staged, ...). See https://cr.yp.to/proto/maildir.html and
//     https://doc.dovecot.org/admin_manual/mailbox_formats/maildir/.
//
// Guarantees (docs/localfs.md has the details):
//
//   - Put writes a temp file on the same filesystem, fsyncs it, renames it
//     into place without replacing anything (renameat2 RENAME_NOREPLACE on
//     Linux, link + unlink elsewhere) and fsyncs the directory before it
//     returns: after a crash a message is either whole or absent. A Put
//     with DeferSync leaves that to Sync: on Linux one syncfs(2) per batch;
//     elsewhere the file is fsync'ed at once and Sync fsyncs the
//     directories.
//   - UIDs are the file names (without ".eml", or without the Maildir ":2,"
//     info) when those are valid RFC 1939 unique-ids, else derived from the
//     name deterministically; a tag change is a rename that keeps the name,
//     so UIDs survive restarts and tag changes.
//   - The SourceID of a Put is recorded three times: in the per-mailbox
//     index (a cache), as an extended attribute of the file, and as an 80-bit
//     hash in the file name (",I=<hash>"), so a lost or corrupt index loses
//     no message and a re-fetch of the same SourceID is still recognised.
//   - Every path is resolved through os.Root plus *at system calls on base
//     names: nothing outside ROOT is reachable, symlinks are never followed
//     for messages, and mailbox names with "/", "\\", NUL, "." or ".." are
//     refused with sdk.ErrInvalid.
//   - Lock/Unlock (sdk.Locker) take an flock(2) on ROOT/M/izypop3.lock, which
//     excludes other store instances and other processes and dies with the
//     process. Unlock removes a mailbox directory that holds nothing but
//     the lock file.
package localfs
