// Package sdk is the public contract between izypop3 and a mimestore.
//
// A store author implements [Store] (and any of the optional interfaces
// [Configurer], [Authenticator], [TopFetcher], [Locker], [Checker],
// [Syncer], [Closer], [BatchFetcher], [BatchPutter]) and calls [Serve] from the plugin binary's main. izypop3 runs the
// binary as a separate process (hashicorp/go-plugin over gRPC); nothing about
// go-plugin or gRPC appears in this package's API. The host's side of the
// connection (the client, the handshake, in-process serving for tests) is
// package sdk/pluginhost; a store author does not need it.
//
// Stores deal in stable UIDs. The POP3 core owns message numbers, DELE marks
// and the UPDATE state; a store only sees tag changes and deletes of UIDs.
// Every method must be safe for concurrent use and must honour its context.
package sdk

import (
	"context"
	"io"
	"iter"
	"time"
)

// Tag is the state of an item in a mailbox. An item has exactly one tag.
// The six tags are the seed's (izy-pop3) mimestore states.
type Tag string

const (
	TagUnread          Tag = "unread"          // waiting to be served / new mail
	TagArchive         Tag = "archive"         // served and removed from the maildrop (POP3 DELE + QUIT)
	TagStaged          Tag = "staged"          // being written by the fetcher; not yet verified
	TagDup             Tag = "dup"             // same content already present under another item
	TagPOP3Failed      Tag = "pop3failed"      // retrieved by a session that ended without QUIT (queue mode)
	TagConversionError Tag = "conversionerror" // stored, but not parseable as a MIME message
)

// Tags lists every valid tag, in a fixed order.
var Tags = []Tag{TagUnread, TagArchive, TagStaged, TagDup, TagPOP3Failed, TagConversionError}

// Valid reports whether t is one of the six tags.
func (t Tag) Valid() bool {
	for _, v := range Tags {
		if t == v {
			return true
		}
	}
	return false
}

// MaxUIDLen is the longest UID a store may hand out (RFC 1939 §7: a
// unique-id is 1 to 70 characters in the range 0x21 to 0x7E).
const MaxUIDLen = 70

// ValidUID reports whether uid is a valid RFC 1939 unique-id: 1 to 70
// octets, each in 0x21..0x7E.
func ValidUID(uid string) bool {
	if len(uid) < 1 || len(uid) > MaxUIDLen {
		return false
	}
	for i := 0; i < len(uid); i++ {
		if uid[i] < 0x21 || uid[i] > 0x7e {
			return false
		}
	}
	return true
}

// Item describes one stored message.
type Item struct {
	// UID is stable for the life of the item (across restarts and tag
	// changes), unique within its mailbox, never reused, and a valid RFC 1939
	// unique-id (see ValidUID).
	UID string
	// Size is the exact number of octets Fetch returns.
	Size int64
	// WireSize is the number of octets the message has when sent by POP3:
	// every line ending converted to CRLF (a bare LF or a lone CR counts as
	// CRLF) and a final CRLF added if the message does not end with one;
	// byte-stuffing is not counted (see WireSizeOf for the exact rule). An
	// empty message has WireSize 0; for a non-empty message 0 means the store
	// does not know it and the host computes it by reading the message.
	WireSize int64
	// Tag is the item's current tag.
	Tag Tag
	// SourceID is an opaque string given at Put (the fetcher uses
	// pop3://user@host:port/UIDL); empty if none.
	SourceID string
	// Received is when the store took the item (zero if unknown).
	Received time.Time
}

// ListOptions filters List.
type ListOptions struct {
	// Tags selects items with any of these tags. Empty means all tags.
	Tags []Tag
	// Limit is the maximum number of items to return; 0 means no limit.
	Limit int
}

// TagStat is the count and total Size of the items with one tag.
type TagStat struct {
	Count int64
	Size  int64
}

// PutOptions describes a message being stored.
type PutOptions struct {
	// Tag is the tag the item gets. Zero means TagUnread.
	Tag Tag
	// SourceID identifies where the message came from. If an item with the
	// same non-empty SourceID already exists in the mailbox, Put stores
	// nothing, drains the body and returns that item with Existing set.
	SourceID string
	// Received is recorded on the item; zero means now.
	Received time.Time
	// DeferSync lets a store that implements Syncer return before the item
	// is durable: it becomes durable at the next Sync of the mailbox. The
	// item must still be whole or absent after a crash, never partial, and
	// a later Put must not answer Existing for it unless it is whole. A
	// store that does not implement Syncer ignores DeferSync (its Put is
	// durable when it returns).
	DeferSync bool
}

// PutResult reports what Put did.
type PutResult struct {
	// UID of the stored (or, with Existing, the already present) item.
	UID string
	// Size is the number of octets stored (== the Item's Size).
	Size int64
	// SHA256 is the hex SHA-256 of the octets stored.
	SHA256 string
	// Tag the item ended up with.
	Tag Tag
	// Existing is true when an item with the same SourceID was already
	// present: nothing new was stored and UID names that item.
	Existing bool
	// DuplicateOf is set when the same content was already present in the
	// mailbox under another item; the new item was stored with TagDup.
	DuplicateOf string
}

// Store is what every mimestore implements.
//
// Mailbox names are 1..255 octets, printable, with no '/', '\\' or NUL, and
// not "." or ".."; a store returns ErrInvalid for anything else. A mailbox
// that was never written to is empty, not an error.
type Store interface {
	// List yields the items of a mailbox that match opts, in a stable order
	// (the same order for the same content). The sequence stops at the first
	// error.
	List(ctx context.Context, mailbox string, opts ListOptions) iter.Seq2[Item, error]
	// Stat returns the count and size of the items of each tag. Tags with
	// no items may be absent.
	Stat(ctx context.Context, mailbox string) (map[Tag]TagStat, error)
	// Fetch returns the raw RFC 5322 octets of an item (exactly Item.Size of
	// them). ErrNotFound if there is no such UID.
	Fetch(ctx context.Context, mailbox, uid string) (io.ReadCloser, error)
	// SetTag moves the listed items to tag. UIDs that do not exist are
	// returned in notFound; the others are changed.
	SetTag(ctx context.Context, mailbox string, uids []string, tag Tag) (notFound []string, err error)
	// Delete removes the listed items for good. UIDs that do not exist are
	// returned in notFound.
	Delete(ctx context.Context, mailbox string, uids []string) (notFound []string, err error)
	// Put stores body as a new item. It returns only after the item is
	// durable (as far as the store can make it so).
	Put(ctx context.Context, mailbox string, opts PutOptions, body io.Reader) (PutResult, error)
}

// Configurer is implemented by stores that take a configuration block (the
// mimestore.* keys of the command line, with the "mimestore." prefix removed,
// and without "modhandler" and "verbose", which are izypop3's). Configure is
// called once, before any other method. A store must decode strictly: an
// unknown key is an error wrapping ErrInvalid that names the key
// ([CheckConfig] words it the way izypop3 does for every store).
type Configurer interface {
	Configure(ctx context.Context, config map[string]string) error
}

// ConfigDescriber is implemented by a Configurer that describes the keys its
// Configure accepts. izypop3 then refuses any other key itself, before
// Configure, with the same words for every store, and `izypop3 plugins`
// lists the keys with their help.
type ConfigDescriber interface {
	ConfigKeys() []ConfigKey
}

// A ConfigKey describes one key of a store's configuration block.
type ConfigKey struct {
	// Name is the key without "mimestore.": "path". A part in upper case
	// stands for one or more dotted parts of a key: "mailbox.NAME.count"
	// matches "mailbox.INBOX.count" and "mailbox.a.b.count".
	Name string
	// Help is one line: what the key sets, its values and default.
	Help string
}

// Authenticator is implemented by stores that check POP3 credentials
// themselves. It returns the mailbox the user may open, ErrAuthFailed for
// wrong credentials.
type Authenticator interface {
	Authenticate(ctx context.Context, user, pass string) (mailbox string, err error)
}

// TopFetcher is implemented by stores that can return the header and the
// first lines of the body cheaper than a full Fetch. The result is a prefix
// of what Fetch returns: the header, the empty line, and at most lines body
// lines.
type TopFetcher interface {
	FetchTop(ctx context.Context, mailbox, uid string, lines int) (io.ReadCloser, error)
}

// Locker is implemented by stores that can hold a maildrop lock that works
// across processes (RFC 1939 §8: exclusive-access lock on the maildrop).
// Lock returns ErrInUse if the mailbox is already locked; the token given
// back releases it. A lock is released when the store process dies.
type Locker interface {
	Lock(ctx context.Context, mailbox string) (token string, err error)
	Unlock(ctx context.Context, mailbox, token string) error
}

// Checker is implemented by stores that can report their health (storage
// reachable, credentials valid).
type Checker interface {
	Check(ctx context.Context) error
}

// Syncer is implemented by stores that can defer the durability of Puts
// (PutOptions.DeferSync) to a barrier, so that a batch of messages costs
// one durability step instead of one per message (the fetcher uses it).
//
// Sync returns once every item of mailbox that a Put with DeferSync
// stored before the call is durable, with its current tag: also the items
// stored by an earlier process of the store that died (a restarted plugin
// knows nothing of what its predecessor left pending, so Sync must not
// depend on remembering it). Tag changes and deletes (SetTag, Delete) are
// durable when they return, as without Syncer.
type Syncer interface {
	Sync(ctx context.Context, mailbox string) error
}

// Closer is implemented by stores that hold resources to release when the
// plugin stops.
type Closer interface {
	Close() error
}

// BatchFetcher is implemented by stores that serve a run of items of one
// mailbox faster than one Fetch each (a store on a high-latency backend
// keeps several reads in flight). Serve answers the host's read-ahead for
// sequential RETRs with it; a store without it is served item by item
// through Fetch. It is also the host's view of that read-ahead
// (pluginhost.BatchFetcher is this type).
type BatchFetcher interface {
	// FetchBatch starts reading the items uids of mailbox, in that order.
	// An error of the whole call is returned here. Canceling ctx ends the
	// batch. The BatchReader must be closed.
	FetchBatch(ctx context.Context, mailbox string, uids []string) (BatchReader, error)
}

// BatchReader reads the items of a FetchBatch one after the other, in the
// order of the uids asked for. It is not safe for concurrent use, except
// that Close may be called at any time from any goroutine.
type BatchReader interface {
	// Next moves to the next item, skipping what is left unread of the
	// current one, and returns its uid and a reader of exactly its octets
	// (valid until the next call of Next or Close). An item that failed
	// gives its uid, a nil reader and an error with the item's sentinel
	// (ErrNotFound, ...); the batch goes on. Reading an item may also fail
	// part way. After the last item Next returns io.EOF; an error with no
	// uid ends the batch (seen through a plugin: it wraps ErrUnavailable).
	Next() (uid string, r io.Reader, err error)
	// Close ends the batch.
	Close() error
}

// BatchPutter is implemented by stores that take a run of new items of one
// mailbox faster than one Put each. Serve answers the host's PutBatch (one
// stream for the messages of a fetch session) with it; a store without it
// is served item by item through Put. It is also the host's view of that
// stream (pluginhost.BatchPutter is this type).
type BatchPutter interface {
	// PutBatch starts a batch of Puts into mailbox. Canceling ctx ends the
	// batch. The BatchWriter must be closed.
	PutBatch(ctx context.Context, mailbox string) (BatchWriter, error)
}

// BatchWriter stores the items of a PutBatch one after the other. It is not
// safe for concurrent use, except that Close may be called at any time from
// any goroutine.
type BatchWriter interface {
	// Put stores body as a new item of the batch's mailbox, exactly as
	// Store.Put would: the same options (DeferSync included), result,
	// errors and durability. When body fails to read, nothing of the item
	// is stored and the error says so. The failure of one item does not
	// end the batch; an error wrapping ErrUnavailable may (a broken stream,
	// seen through a plugin), and then every later Put returns it.
	Put(opts PutOptions, body io.Reader) (PutResult, error)
	// Close ends the batch.
	Close() error
}

// Digester is implemented by readers that know the SHA-256 of the octets
// they yield: once Read has returned io.EOF, SHA256 is the digest of all of
// them. The body a store's Put gets from the sdk's plugin side is one (the
// sdk checks that digest against the host's before it returns io.EOF), so a
// store that records the digest of what it stores need not hash the
// message a second time; on the host side, sdk/pluginhost takes the digest
// of a body that is one for the item's trailer instead of hashing it again.
type Digester interface {
	SHA256() [32]byte
}

// BatchSender is implemented by a BatchWriter that takes the next item
// before the store has answered the one before (a plugin's PutBatch
// stream), so that sending a message overlaps with storing the previous
// one. Send streams one item and returns once it is sent; Result returns
// the outcome of the oldest item sent and not yet answered, exactly as Put
// would have (Put is Send followed by Result). A broken stream makes Send
// or Result return an error wrapping ErrUnavailable, and every later call
// too. Like BatchWriter it is not safe for concurrent use, except Close.
type BatchSender interface {
	Send(opts PutOptions, body io.Reader) error
	Result() (PutResult, error)
}
