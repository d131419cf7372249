package cloudstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmw "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/izyware/izypop3/sdk"
)

// lockBody is the content of a lock object.
type lockBody struct {
	Owner string `json:"owner"` // store instance and token
	Host  string `json:"host"`
	TTL   string `json:"ttl"` // the holder's lock lifetime (a Go duration)
}

// heldLock is one maildrop lock this store holds.
type heldLock struct {
	mailbox, key, token string
	mu                  sync.Mutex
	etag                string
	lost                bool
	cancel              context.CancelFunc
	done                chan struct{}
}

func (l *heldLock) stop() {
	l.cancel()
	<-l.done
}

var hostname, _ = os.Hostname()

// Lock implements sdk.Locker: it creates PREFIX/M/.izypop3/lock with
// If-None-Match: *. A lock object that has not been refreshed for longer
// than its TTL (measured by the endpoint's clock: its Date header against
// the object's Last-Modified) is taken over with If-Match on its ETag, so
// that of two servers racing for it only one wins. The holder rewrites the
// object every third of the TTL; a rewrite refused (If-Match) means the
// lock was lost and is logged. On a backend that ignores conditional
// writes, Lock returns sdk.ErrUnsupported (the host then excludes sessions
// of its own process only).
func (s *Store) Lock(ctx context.Context, mailbox string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := checkMailbox(mailbox); err != nil {
		return "", err
	}
	c, cfg, lay, err := s.state()
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	cond := s.condWrite
	s.mu.Unlock()
	if !cond {
		return "", fmt.Errorf("%w: cloud: %s ignores conditional writes: no shared maildrop lock", sdk.ErrUnsupported, cfg)
	}
	token := randomID()
	body, _ := json.Marshal(lockBody{Owner: s.owner + "." + token, Host: hostname, TTL: cfg.LockTTL.String()})
	key := lay.lockKey(mailbox)
	put := func(ifNoneMatch, ifMatch string) (string, error) {
		in := &s3.PutObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(key), Body: bytes.NewReader(body),
			ContentLength: aws.Int64(int64(len(body))), ContentMD5: aws.String(md5Base64(body))}
		if ifNoneMatch != "" {
			in.IfNoneMatch = aws.String(ifNoneMatch)
		}
		if ifMatch != "" {
			in.IfMatch = aws.String(ifMatch)
		}
		out, err := c.PutObject(ctx, in)
		if err != nil {
			return "", err
		}
		return aws.ToString(out.ETag), nil
	}
	etag, err := put("*", "")
	if isPreconditionFailed(err) {
		var expired bool
		var old string
		old, expired, err = s.lockExpired(ctx, c, cfg, key)
		if err != nil {
			return "", err
		}
		if !expired {
			return "", fmt.Errorf("%w: cloud: mailbox %q is locked by another server", sdk.ErrInUse, mailbox)
		}
		if old == "" { // deleted meanwhile
			etag, err = put("*", "")
		} else {
			etag, err = put("", old)
		}
		if isPreconditionFailed(err) {
			return "", fmt.Errorf("%w: cloud: mailbox %q is locked by another server", sdk.ErrInUse, mailbox)
		}
		if err == nil {
			s.log.Info("cloud: took over an expired maildrop lock", "mailbox", mailbox)
		}
	}
	if err != nil {
		return "", s3Error(ctx, "lock", key, err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	l := &heldLock{mailbox: mailbox, key: key, token: token, etag: etag, cancel: cancel, done: make(chan struct{})}
	s.mu.Lock()
	if s.closed || s.locks == nil {
		s.mu.Unlock()
		cancel()
		close(l.done)
		s.deleteLock(ctx, l)
		return "", fmt.Errorf("%w: cloud: store closed", sdk.ErrUnavailable)
	}
	s.locks[token] = l
	s.mu.Unlock()
	go s.refreshLock(rctx, c, cfg, l, body)
	return token, nil
}

// lockExpired reads the lock object: its ETag ("" if it is gone) and
// whether it outlived its TTL.
func (s *Store) lockExpired(ctx context.Context, c *s3.Client, cfg Config, key string) (string, bool, error) {
	g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(key)})
	if err != nil {
		if isNotFound(err) {
			return "", true, nil
		}
		return "", false, s3Error(ctx, "get", key, err)
	}
	b, err := io.ReadAll(io.LimitReader(g.Body, 64<<10))
	g.Body.Close()
	if err != nil {
		return "", false, s3Error(ctx, "get", key, err)
	}
	var lb lockBody
	ttl := cfg.LockTTL
	if json.Unmarshal(b, &lb) == nil {
		if d, err := time.ParseDuration(lb.TTL); err == nil && d > 0 {
			ttl = d
		}
	}
	now := time.Now()
	if raw, ok := awsmw.GetRawResponse(g.ResultMetadata).(*smithyhttp.Response); ok {
		if d, err := http.ParseTime(raw.Header.Get("Date")); err == nil {
			now = d
		}
	}
	// Last-Modified and Date have one-second resolution.
	age := now.Sub(aws.ToTime(g.LastModified))
	return aws.ToString(g.ETag), age > ttl+time.Second, nil
}

// refreshLock rewrites the lock object every third of the TTL, until
// stopped or until a rewrite is refused.
func (s *Store) refreshLock(ctx context.Context, c *s3.Client, cfg Config, l *heldLock, body []byte) {
	defer close(l.done)
	t := time.NewTicker(cfg.LockTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		l.mu.Lock()
		etag := l.etag
		l.mu.Unlock()
		rctx, cancel := context.WithTimeout(ctx, cfg.LockTTL/3)
		out, err := c.PutObject(rctx, &s3.PutObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(l.key), Body: bytes.NewReader(body),
			ContentLength: aws.Int64(int64(len(body))), ContentMD5: aws.String(md5Base64(body)), IfMatch: aws.String(etag)})
		cancel()
		if ctx.Err() != nil {
			return
		}
		switch {
		case err == nil:
			l.mu.Lock()
			l.etag = aws.ToString(out.ETag)
			l.mu.Unlock()
		case isPreconditionFailed(err) || isNotFound(err):
			l.mu.Lock()
			l.lost = true
			l.mu.Unlock()
			s.log.Error("cloud: maildrop lock lost (another server took it over after it expired)", "mailbox", l.mailbox)
			return
		default:
			s.log.Warn("cloud: refreshing the maildrop lock failed; retrying", "mailbox", l.mailbox, "error", s3Error(ctx, "lock", l.key, err))
		}
	}
}

// Unlock implements sdk.Locker: it stops the refresh and deletes the lock
// object if it is still this holder's. An unknown token is sdk.ErrInvalid.
func (s *Store) Unlock(ctx context.Context, mailbox, token string) error {
	s.mu.Lock()
	l := s.locks[token]
	if l == nil || l.mailbox != mailbox {
		s.mu.Unlock()
		return fmt.Errorf("%w: cloud: no lock %q on mailbox %q", sdk.ErrInvalid, token, mailbox)
	}
	delete(s.locks, token)
	s.mu.Unlock()
	l.stop()
	return s.deleteLock(ctx, l)
}

// deleteLock deletes the lock object with If-Match on the holder's last
// ETag, so that a lock another server took over stays.
func (s *Store) deleteLock(ctx context.Context, l *heldLock) error {
	c, cfg, _, err := s.stateForClose()
	if err != nil {
		return err
	}
	l.mu.Lock()
	etag, lost := l.etag, l.lost
	l.mu.Unlock()
	if lost {
		return nil
	}
	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(l.key), IfMatch: aws.String(etag)})
	if err != nil && !isPreconditionFailed(err) && !isNotFound(err) {
		return s3Error(ctx, "unlock", l.key, err)
	}
	return nil
}

// stateForClose is state without the closed check (Close releases locks).
func (s *Store) stateForClose() (*s3.Client, Config, layout, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.s3 == nil {
		return nil, Config{}, layout{}, fmt.Errorf("%w: cloud: not configured", sdk.ErrInvalid)
	}
	return s.s3, s.cfg, s.lay, nil
}

// stopLocksLocked stops the refresh of every lock (a reconfiguration); the
// lock objects expire.
func (s *Store) stopLocksLocked() {
	for _, l := range s.locks {
		l.cancel()
	}
	s.locks = nil
}
