// Package fetch is the clientpop3 job: it copies the messages of a remote
// POP3 maildrop into a store (an sdk.Store), exactly once, and optionally
// deletes them on the server once the store holds them durably.
//
// A run connects (clear text, implicit TLS or STLS), asks CAPA,
// authenticates, reads UIDL and LIST, chooses the messages, retrieves them
// (pipelined when the server advertises PIPELINING), stores them, deletes
// what may be deleted and ends with QUIT. Servers that show only a window of
// the maildrop per session (Gmail) are drained by repeating sessions until
// one brings nothing new.
//
// # The exactly-once rule
//
// The store is the only record of what was fetched: every message is
// stored with SourceID pop3://USER@HOST:PORT/UIDL (USER escaped as in a
// URL), and a message whose SourceID the store already holds is not
// fetched again. Per message:
//
//  1. RETR, dot-unstuffed, streamed into Put(tag staged, SourceID); the
//     size and SHA-256 of what was received are computed on the way, and
//     the message is parsed with emersion/go-message on the way too. A
//     store that implements sdk.BatchPutter (every plugin built with a
//     current sdk) gets the session's Puts over one PutBatch stream; when
//     the stream is an sdk.BatchSender (a plugin's), up to 32 messages are
//     sent ahead while the store is still storing the ones before, and the
//     answers are taken in order. An older store gets one Put each.
//  2. The store's answer is verified: the size and SHA-256 it reports must
//     be those received. A staged item that fails the check is deleted.
//  3. After a batch of messages the store's durability barrier runs (a
//     store that implements sdk.Syncer gets its Puts with DeferSync and one
//     Sync per batch instead of one durability step per message; a store
//     without it is durable at every Put), then the batch is tagged: unread, conversionerror
//     (go-message cannot parse the header or the MIME structure) or dup
//     (the store found the same content already held). Then the barrier
//     runs once more, so the tags are durable too.
//  4. Only then, and only with Delete or DeleteAfter, the message is
//     marked with DELE; QUIT applies the marks.
//
// So staged means "not finished": a message whose item is still staged is
// never deleted on the server, and a rerun retrieves it again. If the
// store then answers that the SourceID is already held by a staged item
// (a run was killed between Put and tagging), the item is adopted when its
// size and SHA-256 equal the message's, and deleted (to be fetched whole by
// the next run) when they do not. A staged item is never taken as the
// original of a dup: a message whose content equals only that of a staged
// item is tagged unread, so a leftover staged item that lost its SourceID
// cannot keep a message out of the maildrop.
//
// A message is stored whole or not at all: a connection that breaks in the
// middle of a message, or a reply that ends without its terminating "."
// line, fails the Put (the store keeps nothing of it). Sizes the server
// states in LIST are not trusted (some servers state them wrong in both
// directions): the message is what arrives before the terminator, and a
// difference is logged.
package fetch
