// Package cloudstore is the cloud mimestore: messages kept as objects in an
// S3-compatible bucket (AWS S3, Cloudflare R2, GCS interoperability,
// SeaweedFS, MinIO), so that several izypop3 servers can serve one bucket
// and an Amazon SES receipt rule's output is served as it is.
//
// Layout (docs/cloud.md has the details). With tablename "BUCKET/PREFIX",
// mailbox M is the key prefix PREFIX/M/:
//
//	PREFIX/M/<any name>                    unread: every object directly there (SES writes here)
//	PREFIX/M/.izypop3/<tag>/<name>         the other five tags (archive, staged, dup, ...)
//	PREFIX/M/.izypop3/journal/<id>         tag changes in progress (crash safety)
//	PREFIX/M/.izypop3/incoming/<id>        large Puts being uploaded (multipart)
//	PREFIX/M/.izypop3/lock                 the shared maildrop lock (sdk.Locker)
//
// Guarantees:
//
//   - A tag change writes a journal object naming the moves, copies each
//     object to its new key, deletes the old keys and then the journal. A
//     reader that sees a journal treats its objects as moved already; one
//     older than journalStale is completed by the next reader. So a crash
//     between the steps loses nothing and never serves an archived message
//     as unread again. An object found under two tags without a journal
//     (copied by hand) counts under the tag that comes first in
//     archive, dup, conversionerror, pop3failed, staged, unread.
//   - UIDs are object names when those are valid RFC 1939 unique-ids (and
//     do not start with "~"), else "~" and 26 base32 characters of a hash
//     of the name; a tag change keeps the name, so UIDs survive restarts,
//     tag changes and other servers.
//   - Put streams: a message up to partSize is one PutObject with
//     Content-Length and Content-MD5; a larger (or unknown-size) one is a
//     multipart upload to an incoming key, size-checked and then copied to
//     its final key. The object's user metadata keeps its SHA-256, its
//     POP3 wire size and its SourceID; names the store writes carry the wire
//     size and a hash of the SourceID, so a listing alone serves a login.
//   - Lock/Unlock (sdk.Locker) create PREFIX/M/.izypop3/lock with a
//     conditional put (If-None-Match: *) holding an owner id and an expiry
//     that the holder refreshes; a lock past its expiry may be taken over
//     (If-Match on its ETag). Configure checks that the backend honours
//     conditional writes and says so in one line when it does not.
//   - FetchBatch (sequential RETRs) keeps several GETs in flight, bounded in
//     count (mimestore.readahead) and buffered bytes.
//   - Throttling, 5xx and network errors are retried with backoff a bounded
//     number of times and then reported as sdk.ErrUnavailable; no provider
//     error text is passed on (only the S3 error code and HTTP status).
//
// The S3 client is the AWS SDK for Go v2 (service/s3): it is AWS's own,
// maintained client; it brings the standard AWS credential chain the
// configuration promises when no access token is given (environment, shared
// config and profiles, web identity, ECS task and EC2 instance roles),
// conditional writes (IfNoneMatch/IfMatch), retries with jittered backoff,
// and works against any S3-compatible endpoint with path-style addressing.
// minio-go also speaks S3 well, but its credential chain covers less (no
// SSO or shared-config role chaining) and it adds its own retry policy we
// would have to bound separately.
package cloudstore
