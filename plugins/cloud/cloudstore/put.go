package cloudstore

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/izyware/izypop3/sdk"
)

// partSize is the largest message Put writes with one PutObject, and the
// part size of the multipart uploads of larger ones (S3 wants parts of at
// least 5 MiB). It is also the most of a message Put holds in memory.
var partSize int64 = 8 << 20 // a var for tests

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func emptyBody() io.Reader { return bytes.NewReader(nil) }

func md5Base64(b []byte) string {
	sum := md5.Sum(b)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// Put implements sdk.Store. A message of at most partSize octets is one
// PutObject (Content-Length and Content-MD5 checked by the server); a
// larger one is a multipart upload to an incoming key whose size is checked
// before it is copied to its name. A Put with a SourceID already in the
// mailbox stores nothing and returns that item; one whose octets are
// already there is stored with TagDup.
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
	mb, c, cfg, lay, err := s.mailbox(mailbox)
	if err != nil {
		return sdk.PutResult{}, err
	}
	if opts.SourceID != "" {
		res, existing, release, err := mb.claim(ctx, c, cfg, lay, opts.SourceID)
		if err != nil {
			return sdk.PutResult{}, err
		}
		if existing {
			if _, err := io.Copy(io.Discard, body); err != nil {
				return sdk.PutResult{}, fmt.Errorf("cloud: reading the message: %w", err)
			}
			return res, nil
		}
		defer release()
	}
	received := opts.Received
	if received.IsZero() {
		received = time.Now()
	}
	w := &putWriter{sha: sha256.New()}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= int(partSize)+1<<10 {
			bufPool.Put(buf)
		}
	}()
	if _, err := buf.ReadFrom(io.LimitReader(body, partSize+1)); err != nil {
		return sdk.PutResult{}, fmt.Errorf("cloud: reading the message: %w", err)
	}
	if int64(buf.Len()) <= partSize {
		w.add(buf.Bytes())
		return mb.putSmall(ctx, c, cfg, lay, tag, opts.SourceID, received, buf.Bytes(), w)
	}
	return mb.putLarge(ctx, c, cfg, lay, tag, opts.SourceID, received, buf, body, w)
}

// putWriter sums what Put streams.
type putWriter struct {
	sha  hash.Hash
	wire sdk.WireCounter
	n    int64
}

func (w *putWriter) add(p []byte) {
	w.sha.Write(p)
	w.wire.Write(p)
	w.n += int64(len(p))
}

// finalize decides the item's tag (dup if the octets are there already)
// and name, and marks the content as being stored.
func (mb *mailbox) finalize(ctx context.Context, c *s3.Client, cfg Config, lay layout, tag sdk.Tag, src string, w *putWriter) (name, sum, dupOf string, final sdk.Tag, done func(), err error) {
	sum = hex.EncodeToString(w.sha.Sum(nil))
	dupOf, err = mb.findDup(ctx, c, cfg, lay, sum)
	if err != nil {
		return "", "", "", "", nil, err
	}
	name = newName(w.wire.Size(), src)
	final = tag
	mb.mu.Lock()
	if dupOf == "" {
		dupOf = mb.pendSHA[sum]
	}
	if dupOf != "" {
		final = sdk.TagDup
	} else {
		mb.pendSHA[sum] = uidOf(name)
	}
	mb.mu.Unlock()
	done = func() {
		mb.mu.Lock()
		if mb.pendSHA[sum] == uidOf(name) {
			delete(mb.pendSHA, sum)
		}
		mb.mu.Unlock()
	}
	return name, sum, dupOf, final, done, nil
}

func objectMeta(sum string, wire int64, src string) map[string]string {
	m := map[string]string{metaSHA: sum, metaWire: strconv.FormatInt(wire, 10)}
	if src != "" {
		m[metaSource] = url.QueryEscape(src)
	}
	return m
}

// record adds an object this process stored to the view.
func (mb *mailbox) record(tag sdk.Tag, name string, size int64, sum string, wire int64, src string, received time.Time) {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	mb.addLocked(tag, name, size, time.Now())
	mb.meta[metaKey{name, size}] = &meta{wire: wire, wireOK: true, sha: sum, src: src, srcOK: true, received: received}
}

func (mb *mailbox) putSmall(ctx context.Context, c *s3.Client, cfg Config, lay layout, tag sdk.Tag, src string, received time.Time, data []byte, w *putWriter) (sdk.PutResult, error) {
	name, sum, dupOf, final, done, err := mb.finalize(ctx, c, cfg, lay, tag, src, w)
	if err != nil {
		return sdk.PutResult{}, err
	}
	defer done()
	key := lay.key(mb.name, final, name)
	wire := w.wire.Size()
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(key),
		Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))), ContentMD5: aws.String(md5Base64(data)),
		ContentType: aws.String("message/rfc822"), Metadata: objectMeta(sum, wire, src)})
	if err != nil {
		return sdk.PutResult{}, s3Error(ctx, "put", key, err)
	}
	mb.record(final, name, w.n, sum, wire, src, received)
	return sdk.PutResult{UID: uidOf(name), Size: w.n, SHA256: sum, Tag: final, DuplicateOf: dupOf}, nil
}

// putLarge uploads first (partSize+1 octets already read) and the rest of
// body as a multipart upload to an incoming key, checks its size, and
// copies it to its name.
func (mb *mailbox) putLarge(ctx context.Context, c *s3.Client, cfg Config, lay layout, tag sdk.Tag, src string, received time.Time, first *bytes.Buffer, body io.Reader, w *putWriter) (sdk.PutResult, error) {
	tmp := lay.incomingPrefix(mb.name) + strconv.FormatInt(time.Now().Unix(), 10) + "." + randomID()
	cmu, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(tmp)})
	if err != nil {
		return sdk.PutResult{}, s3Error(ctx, "upload", tmp, err)
	}
	uploadID := cmu.UploadId
	completed := false
	defer func() {
		if !completed {
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			c.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(tmp), UploadId: uploadID})
			cancel()
		}
	}()
	var parts []types.CompletedPart
	rest := io.MultiReader(bytes.NewReader(first.Bytes()), body)
	part := make([]byte, partSize)
	for num := int32(1); ; num++ {
		n, rerr := io.ReadFull(rest, part)
		if rerr != nil && !errors.Is(rerr, io.EOF) && !errors.Is(rerr, io.ErrUnexpectedEOF) {
			return sdk.PutResult{}, fmt.Errorf("cloud: reading the message: %w", rerr)
		}
		if n > 0 {
			p := part[:n]
			w.add(p)
			out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(tmp), UploadId: uploadID,
				PartNumber: aws.Int32(num), Body: bytes.NewReader(p), ContentLength: aws.Int64(int64(n)), ContentMD5: aws.String(md5Base64(p))})
			if err != nil {
				return sdk.PutResult{}, s3Error(ctx, "upload part", tmp, err)
			}
			parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num)})
		}
		if rerr != nil {
			break
		}
	}
	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(tmp),
		UploadId: uploadID, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		return sdk.PutResult{}, s3Error(ctx, "complete upload", tmp, err)
	}
	completed = true
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		c.DeleteObject(dctx, &s3.DeleteObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(tmp)})
		cancel()
	}()
	h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(tmp)})
	if err != nil {
		return sdk.PutResult{}, s3Error(ctx, "head", tmp, err)
	}
	if got := aws.ToInt64(h.ContentLength); got != w.n {
		return sdk.PutResult{}, fmt.Errorf("%w: cloud: uploaded %d octets but the endpoint stored %d", sdk.ErrUnavailable, w.n, got)
	}
	name, sum, dupOf, final, done, err := mb.finalize(ctx, c, cfg, lay, tag, src, w)
	if err != nil {
		return sdk.PutResult{}, err
	}
	defer done()
	key := lay.key(mb.name, final, name)
	wire := w.wire.Size()
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(key),
		CopySource: aws.String(copySource(cfg.Bucket, tmp)), MetadataDirective: types.MetadataDirectiveReplace,
		ContentType: aws.String("message/rfc822"), Metadata: objectMeta(sum, wire, src)})
	if err != nil {
		return sdk.PutResult{}, s3Error(ctx, "copy", tmp, err)
	}
	mb.record(final, name, w.n, sum, wire, src, received)
	return sdk.PutResult{UID: uidOf(name), Size: w.n, SHA256: sum, Tag: final, DuplicateOf: dupOf}, nil
}

// ensureFull lists every tag once in this process's life of the mailbox,
// so that SourceID and duplicate checks see all of it (then the view is
// kept up to date by the store's own changes and by every List).
func (mb *mailbox) ensureFull(ctx context.Context, c *s3.Client, cfg Config, lay layout) error {
	mb.mu.Lock()
	full := mb.full
	mb.mu.Unlock()
	if full {
		return nil
	}
	return mb.refresh(ctx, c, cfg, lay, sdk.Tags)
}

// allEntriesLocked returns an entry per object name of the view (no
// order).
func (mb *mailbox) allEntriesLocked(keep func(name string) bool) []*entry {
	seen := make(map[string]bool)
	var out []*entry
	for _, t := range precedence {
		for name := range mb.phys[t] {
			if seen[name] || keep != nil && !keep(name) {
				continue
			}
			seen[name] = true
			if e := mb.entryLocked(name); e != nil {
				out = append(out, e)
			}
		}
	}
	return out
}

// findDup returns the UID of an item of the mailbox with content hash sum,
// "" if none.
func (mb *mailbox) findDup(ctx context.Context, c *s3.Client, cfg Config, lay layout, sum string) (string, error) {
	if err := mb.ensureFull(ctx, c, cfg, lay); err != nil {
		return "", err
	}
	mb.mu.Lock()
	es := mb.allEntriesLocked(nil)
	var unknown []*entry
	for _, e := range es {
		m := mb.metaLocked(e.name, e.size)
		if m.sha == sum {
			mb.mu.Unlock()
			return e.uid, nil
		}
		if m.sha == "" {
			unknown = append(unknown, e)
		}
	}
	mb.mu.Unlock()
	if len(unknown) == 0 {
		return "", nil
	}
	if err := mb.fill(ctx, c, cfg, lay, unknown, true); err != nil {
		return "", err
	}
	mb.mu.Lock()
	defer mb.mu.Unlock()
	for _, e := range unknown {
		if mb.metaLocked(e.name, e.size).sha == sum {
			return e.uid, nil
		}
	}
	return "", nil
}

// claim makes this Put the only one of src in this process and looks for
// an item that has it. With existing the item is returned; otherwise
// release must be called when the Put is done.
func (mb *mailbox) claim(ctx context.Context, c *s3.Client, cfg Config, lay layout, src string) (res sdk.PutResult, existing bool, release func(), err error) {
	for {
		mb.mu.Lock()
		ch, busy := mb.claims[src]
		if !busy {
			ch = make(chan struct{})
			mb.claims[src] = ch
		}
		mb.mu.Unlock()
		if !busy {
			break
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return sdk.PutResult{}, false, nil, ctx.Err()
		}
	}
	release = func() {
		mb.mu.Lock()
		ch := mb.claims[src]
		delete(mb.claims, src)
		mb.mu.Unlock()
		close(ch)
	}
	res, existing, err = mb.findSource(ctx, c, cfg, lay, src)
	if err != nil || existing {
		release()
		return res, existing, nil, err
	}
	return sdk.PutResult{}, false, release, nil
}

// findSource looks for the item Put with src: among the names that carry
// its hash, the one whose metadata has it.
func (mb *mailbox) findSource(ctx context.Context, c *s3.Client, cfg Config, lay layout, src string) (sdk.PutResult, bool, error) {
	if err := mb.ensureFull(ctx, c, cfg, lay); err != nil {
		return sdk.PutResult{}, false, err
	}
	h := sourceHash(src)
	mb.mu.Lock()
	cands := mb.allEntriesLocked(func(name string) bool { return parseName(name).srcHash == h })
	mb.mu.Unlock()
	if len(cands) == 0 {
		return sdk.PutResult{}, false, nil
	}
	if err := mb.fill(ctx, c, cfg, lay, cands, true); err != nil {
		return sdk.PutResult{}, false, err
	}
	mb.mu.Lock()
	defer mb.mu.Unlock()
	for _, e := range cands {
		if m := mb.metaLocked(e.name, e.size); m.src == src {
			return sdk.PutResult{UID: e.uid, Size: e.size, SHA256: m.sha, Tag: e.tag, Existing: true}, true, nil
		}
	}
	return sdk.PutResult{}, false, nil
}
