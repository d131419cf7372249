package cloudstore

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/url"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/izyware/izypop3/sdk"
)

// journalStale is the age after which a journal is taken for the leftover
// of a tag change that crashed, and completed by whoever reads it. A tag
// change of 1000 objects takes seconds.
var journalStale = 5 * time.Minute // a var for tests

// maxJournalSize bounds a journal object read back (1000 moves of 1024-octet
// names, with room).
const maxJournalSize = 4 << 20

// A journal names the moves of one tag change: written before the first
// copy, deleted after the last delete.
type journal struct {
	To    sdk.Tag `json:"to"`
	Moves []move  `json:"moves"`
	key   string
	mod   time.Time
}

type move struct {
	Name string  `json:"n"`
	From sdk.Tag `json:"from"`
}

// journaledLocked reports whether a journal in force moves name, and to
// which tag (the newest journal wins).
func (mb *mailbox) journaledLocked(name string) (sdk.Tag, bool) {
	var best *journal
	for _, j := range mb.journals {
		if best != nil && (j.mod.Before(best.mod) || j.mod.Equal(best.mod) && j.key < best.key) {
			continue
		}
		for _, m := range j.Moves {
			if m.Name == name {
				best = j
				break
			}
		}
	}
	if best == nil {
		return "", false
	}
	return best.To, true
}

// loadJournals lists the journals and reads those not read before (a
// journal never changes).
func (mb *mailbox) loadJournals(ctx context.Context, c *s3.Client, cfg Config, lay layout) (map[string]*journal, error) {
	prefix := lay.journalPrefix(mb.name)
	objs, err := listPrefix(ctx, c, cfg.Bucket, prefix)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*journal, len(objs))
	for name, o := range objs {
		key := prefix + name
		mb.mu.Lock()
		j := mb.journals[key]
		mb.mu.Unlock()
		if j == nil {
			g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(key)})
			if err != nil {
				if isNotFound(err) {
					continue // finished meanwhile
				}
				return nil, s3Error(ctx, "get", key, err)
			}
			b, err := io.ReadAll(io.LimitReader(g.Body, maxJournalSize))
			g.Body.Close()
			if err != nil {
				return nil, s3Error(ctx, "get", key, err)
			}
			j = &journal{}
			if err := json.Unmarshal(b, j); err != nil || !j.To.Valid() {
				mb.s.log.Warn("cloud: ignoring an unreadable journal", "key", key)
				continue
			}
			j.key = key
		}
		cp := *j // a journal in the view is read by others: never written again
		cp.mod = o.mod
		out[key] = &cp
	}
	return out, nil
}

// setTag moves the objects of uids to tag: journal, copies, deletes,
// journal removed.
func (mb *mailbox) setTag(ctx context.Context, c *s3.Client, cfg Config, lay layout, uids []string, tag sdk.Tag) ([]string, error) {
	targets, notFound, err := mb.resolve(ctx, c, cfg, lay, uids)
	if err != nil {
		return nil, err
	}
	j := &journal{To: tag}
	var todo []target
	for _, tg := range targets {
		if len(tg.copies) == 1 && tg.copies[0] == tag {
			continue // already there
		}
		todo = append(todo, tg)
		j.Moves = append(j.Moves, move{Name: tg.name, From: tg.copies[0]})
	}
	if len(todo) == 0 {
		return notFound, nil
	}
	if err := mb.writeJournal(ctx, c, cfg, lay, j); err != nil {
		return nil, err
	}
	gone, err := mb.apply(ctx, c, cfg, lay, j, todo)
	if err != nil {
		return nil, err // the journal stays: the change is completed later
	}
	notFound = append(notFound, gone...)
	if err := mb.dropJournal(ctx, c, cfg, j); err != nil {
		return nil, err
	}
	return notFound, nil
}

// apply carries out the moves of j for targets: each object is copied to
// the target tag (unless a copy is there) and then every other copy is
// deleted. It returns the UIDs whose object vanished before it could be
// copied.
func (mb *mailbox) apply(ctx context.Context, c *s3.Client, cfg Config, lay layout, j *journal, targets []target) ([]string, error) {
	tag := j.To
	vanished := make([]bool, len(targets))
	err := parallel(ctx, changeParallel, len(targets), func(ctx context.Context, i int) error {
		tg := &targets[i]
		for _, t := range tg.copies {
			if t == tag {
				return nil
			}
		}
		for attempt := range 2 {
			src := lay.key(mb.name, tg.copies[0], tg.name)
			dst := lay.key(mb.name, tag, tg.name)
			out, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(dst),
				CopySource: aws.String(copySource(cfg.Bucket, src)), MetadataDirective: types.MetadataDirectiveCopy})
			if err == nil {
				mod := time.Now()
				if out.CopyObjectResult != nil && out.CopyObjectResult.LastModified != nil {
					mod = *out.CopyObjectResult.LastModified
				}
				mb.mu.Lock()
				size := int64(0)
				if o := mb.phys[tg.copies[0]][tg.name]; o != nil {
					size = o.size
				}
				mb.addLocked(tag, tg.name, size, mod)
				mb.mu.Unlock()
				return nil
			}
			if !isNotFound(err) {
				return s3Error(ctx, "copy", src, err)
			}
			// Moved or deleted by someone else: look again.
			ts, lerr := mb.locate(ctx, c, cfg, lay, tg.name, true)
			if lerr != nil {
				return lerr
			}
			tg.copies = ts
			if len(ts) == 0 {
				vanished[i] = true
				return nil
			}
			for _, t := range ts {
				if t == tag {
					return nil
				}
			}
			_ = attempt
		}
		vanished[i] = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	var keys []string
	var gone []string
	mb.mu.Lock()
	for i, tg := range targets {
		if vanished[i] {
			gone = append(gone, tg.uid)
			continue
		}
		for _, t := range tg.copies {
			if t != tag {
				keys = append(keys, lay.key(mb.name, t, tg.name))
			}
		}
	}
	mb.mu.Unlock()
	if err := deleteKeys(ctx, c, cfg.Bucket, keys); err != nil {
		return nil, err
	}
	mb.mu.Lock()
	for i, tg := range targets {
		if vanished[i] {
			continue
		}
		for _, t := range tg.copies {
			if t != tag {
				mb.removeLocked(t, tg.name)
			}
		}
	}
	mb.mu.Unlock()
	return gone, nil
}

// copySource is the x-amz-copy-source value: bucket/key, URL-escaped.
func copySource(bucket, key string) string {
	return bucket + "/" + (&url.URL{Path: key}).EscapedPath()
}

func (mb *mailbox) writeJournal(ctx context.Context, c *s3.Client, cfg Config, lay layout, j *journal) error {
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	j.key = lay.journalPrefix(mb.name) + strconv.FormatInt(time.Now().UnixNano(), 10) + "." + randomID()
	j.mod = time.Now()
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(j.key),
		Body: bytes.NewReader(b), ContentLength: aws.Int64(int64(len(b))), ContentMD5: aws.String(md5Base64(b))})
	if err != nil {
		return s3Error(ctx, "put", j.key, err)
	}
	mb.mu.Lock()
	mb.journals[j.key] = j
	mb.mu.Unlock()
	return nil
}

func (mb *mailbox) dropJournal(ctx context.Context, c *s3.Client, cfg Config, j *journal) error {
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(j.key)}); err != nil && !isNotFound(err) {
		return s3Error(ctx, "delete", j.key, err)
	}
	mb.mu.Lock()
	delete(mb.journals, j.key)
	mb.mu.Unlock()
	return nil
}

// staleJournals returns the journals of js older than journalStale: the
// tag change that wrote them died between its steps.
func staleJournals(js map[string]*journal) []*journal {
	var stale []*journal
	for _, j := range js {
		if time.Since(j.mod) >= journalStale {
			stale = append(stale, j)
		}
	}
	return stale
}

// recoverStale completes the tag changes of stale journals.
func (mb *mailbox) recoverStale(ctx context.Context, c *s3.Client, cfg Config, lay layout, stale []*journal) error {
	for _, j := range stale {
		mb.s.log.Info("cloud: completing an interrupted tag change", "mailbox", mb.name, "journal", j.key, "moves", len(j.Moves), "to", string(j.To))
		targets := make([]target, 0, len(j.Moves))
		for _, m := range j.Moves {
			ts, err := mb.locate(ctx, c, cfg, lay, m.Name, true)
			if err != nil {
				return err
			}
			if len(ts) > 0 {
				targets = append(targets, target{uid: uidOf(m.Name), name: m.Name, copies: ts})
			}
		}
		if _, err := mb.apply(ctx, c, cfg, lay, j, targets); err != nil {
			return err
		}
		if err := mb.dropJournal(ctx, c, cfg, j); err != nil {
			return err
		}
	}
	return nil
}
