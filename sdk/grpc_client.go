package sdk

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"sync"

	"github.com/izyware/izypop3/sdk/internal/storev1"
	"google.golang.org/grpc"
)

// Remote is a Store served by another process (or by ServeInProcess), seen
// from the host. It implements Store and every optional interface; a method
// whose interface the plugin lacks returns an error wrapping ErrUnsupported.
// Errors keep their sentinel identity (errors.Is(err, ErrNotFound) works);
// a plugin that died or a closed connection gives an error wrapping
// ErrUnavailable.
//
// Hosts get a Remote from the go-plugin client (see HostPluginSet); store
// authors never need it.
type Remote struct {
	c storev1.StoreClient
}

var (
	_ Store         = (*Remote)(nil)
	_ Configurer    = (*Remote)(nil)
	_ Authenticator = (*Remote)(nil)
	_ TopFetcher    = (*Remote)(nil)
	_ Locker        = (*Remote)(nil)
	_ Checker       = (*Remote)(nil)
)

// newRemote returns a Remote speaking over conn.
func newRemote(conn grpc.ClientConnInterface) *Remote {
	return &Remote{c: storev1.NewStoreClient(conn)}
}

// Info asks the plugin for its name, versions and capabilities.
func (r *Remote) Info(ctx context.Context) (Info, error) {
	resp, err := r.c.GetInfo(ctx, &storev1.GetInfoRequest{})
	if err != nil {
		return Info{}, fromStatus(ctx, err)
	}
	return Info{
		Name:         resp.GetName(),
		Version:      resp.GetVersion(),
		SDKVersion:   resp.GetSdkVersion(),
		Capabilities: resp.GetCapabilities(),
	}, nil
}

// Configure implements Configurer.
func (r *Remote) Configure(ctx context.Context, config map[string]string) error {
	_, err := r.c.Configure(ctx, &storev1.ConfigureRequest{Config: config})
	return fromStatus(ctx, err)
}

// List implements Store. The items arrive in batches; breaking out of the
// loop cancels the stream.
func (r *Remote) List(ctx context.Context, mailbox string, opts ListOptions) iter.Seq2[Item, error] {
	return func(yield func(Item, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		req := &storev1.ListRequest{Mailbox: mailbox, Limit: int64(opts.Limit)}
		for _, t := range opts.Tags {
			req.Tags = append(req.Tags, string(t))
		}
		stream, err := r.c.List(ctx, req)
		if err != nil {
			yield(Item{}, fromStatus(ctx, err))
			return
		}
		for {
			resp, err := stream.Recv()
			if err == io.EOF {
				return
			}
			if err != nil {
				yield(Item{}, fromStatus(ctx, err))
				return
			}
			for _, p := range resp.GetItems() {
				if !yield(itemFromProto(p), nil) {
					return
				}
			}
		}
	}
}

// Stat implements Store.
func (r *Remote) Stat(ctx context.Context, mailbox string) (map[Tag]TagStat, error) {
	resp, err := r.c.Stat(ctx, &storev1.StatRequest{Mailbox: mailbox})
	if err != nil {
		return nil, fromStatus(ctx, err)
	}
	st := make(map[Tag]TagStat, len(resp.GetTags()))
	for t, s := range resp.GetTags() {
		st[Tag(t)] = TagStat{Count: s.GetCount(), Size: s.GetSize()}
	}
	return st, nil
}

// Fetch implements Store. The reader pulls chunks from the plugin as it is
// read; Close cancels the stream. A stream that breaks (plugin died) makes
// Read return an error wrapping ErrUnavailable, never a silent EOF.
func (r *Remote) Fetch(ctx context.Context, mailbox, uid string) (io.ReadCloser, error) {
	return openChunks(ctx, func(ctx context.Context) (grpc.ServerStreamingClient[storev1.Chunk], error) {
		return r.c.Fetch(ctx, &storev1.FetchRequest{Mailbox: mailbox, Uid: uid}, fetchCallOption)
	})
}

// FetchTop implements TopFetcher.
func (r *Remote) FetchTop(ctx context.Context, mailbox, uid string, lines int) (io.ReadCloser, error) {
	return openChunks(ctx, func(ctx context.Context) (grpc.ServerStreamingClient[storev1.Chunk], error) {
		return r.c.FetchTop(ctx, &storev1.FetchTopRequest{Mailbox: mailbox, Uid: uid, Lines: int64(lines)}, fetchCallOption)
	})
}

// openChunks starts a chunk stream and waits for its first message, so that
// NotFound and friends are returned by Fetch itself, not by the first Read.
func openChunks(parent context.Context, open func(context.Context) (grpc.ServerStreamingClient[storev1.Chunk], error)) (io.ReadCloser, error) {
	ctx, cancel := context.WithCancel(parent)
	stream, err := open(ctx)
	if err != nil {
		cancel()
		return nil, fromStatus(parent, err)
	}
	cr := &chunkReader{parent: parent, stream: stream, cancel: cancel}
	err = stream.RecvMsg(&cr.msg)
	switch {
	case err == io.EOF:
		cr.err = io.EOF // empty message
	case err != nil:
		cancel()
		return nil, fromStatus(parent, err)
	default:
		cr.buf = cr.msg.Data
	}
	return cr, nil
}

// chunkReader is the io.ReadCloser of Remote.Fetch.
type chunkReader struct {
	parent context.Context
	stream grpc.ServerStreamingClient[storev1.Chunk]
	cancel context.CancelFunc

	mu     sync.Mutex    // Read vs Close
	msg    storev1.Chunk // every chunk is received into msg.Data (chunkCodec)
	buf    []byte        // unread part of msg.Data
	err    error         // sticky
	closed bool
}

func (c *chunkReader) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, errors.New("sdk: read of a closed fetch stream")
	}
	for len(c.buf) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		c.recv()
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	return n, nil
}

// recv receives the next chunk into c.msg; c.mu is held and c.buf empty.
func (c *chunkReader) recv() {
	err := c.stream.RecvMsg(&c.msg)
	switch {
	case err == io.EOF:
		c.err = io.EOF
	case err != nil:
		c.err = fromStatus(c.parent, err)
		c.cancel()
	default:
		c.buf = c.msg.Data
	}
}

// WriteTo lets io.Copy hand out whole chunks without an extra copy. The
// writer must not keep the slice (io.Writer's rule): the next chunk is
// received into the same buffer.
func (c *chunkReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return total, errors.New("sdk: read of a closed fetch stream")
		}
		if len(c.buf) == 0 && c.err == nil {
			c.recv()
		}
		buf, rerr := c.buf, c.err
		c.buf = nil
		c.mu.Unlock()
		if len(buf) > 0 {
			n, err := w.Write(buf)
			total += int64(n)
			if err != nil {
				return total, err
			}
			if n < len(buf) {
				return total, io.ErrShortWrite
			}
			continue
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// Close cancels the stream; the plugin sees its context canceled.
func (c *chunkReader) Close() error {
	c.cancel()
	c.mu.Lock()
	c.closed = true
	c.buf = nil
	c.mu.Unlock()
	return nil
}

// SetTag implements Store.
func (r *Remote) SetTag(ctx context.Context, mailbox string, uids []string, tag Tag) ([]string, error) {
	resp, err := r.c.SetTag(ctx, &storev1.SetTagRequest{Mailbox: mailbox, Uids: uids, Tag: string(tag)})
	if err != nil {
		return nil, fromStatus(ctx, err)
	}
	return resp.GetNotFound(), nil
}

// Delete implements Store.
func (r *Remote) Delete(ctx context.Context, mailbox string, uids []string) ([]string, error) {
	resp, err := r.c.Delete(ctx, &storev1.DeleteRequest{Mailbox: mailbox, Uids: uids})
	if err != nil {
		return nil, fromStatus(ctx, err)
	}
	return resp.GetNotFound(), nil
}

// Put implements Store. It streams body in ChunkSize pieces (one buffer),
// computing its size and SHA-256 on the way, and ends with the trailer the
// plugin checks. If reading body fails, the stream is canceled and the
// plugin's store sees a read error, so nothing is stored.
func (r *Remote) Put(ctx context.Context, mailbox string, opts PutOptions, body io.Reader) (PutResult, error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := r.c.Put(sctx)
	if err != nil {
		return PutResult{}, fromStatus(ctx, err)
	}
	hdr := &storev1.PutHeader{Mailbox: mailbox, Tag: string(opts.Tag), SourceId: opts.SourceID}
	if !opts.Received.IsZero() {
		hdr.ReceivedUnixNano = opts.Received.UnixNano()
	}
	// serverDone reports the real outcome when Send says io.EOF: the plugin
	// ended the call early (a store error), which CloseAndRecv returns.
	serverDone := func() (PutResult, error) {
		_, err := stream.CloseAndRecv()
		if err == nil {
			err = fmt.Errorf("%w: put: plugin ended the stream before the trailer", ErrUnavailable)
		}
		return PutResult{}, fromStatus(ctx, err)
	}
	if err := stream.Send(&storev1.PutRequest{Part: &storev1.PutRequest_Header{Header: hdr}}); err != nil {
		if err == io.EOF {
			return serverDone()
		}
		return PutResult{}, fromStatus(ctx, err)
	}
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	buf := *bp
	sum := sha256.New()
	var n int64
	data := &storev1.PutRequest_Data{}
	msg := &storev1.PutRequest{Part: data}
	for {
		k, rerr := io.ReadFull(body, buf)
		if k > 0 {
			sum.Write(buf[:k])
			n += int64(k)
			data.Data = buf[:k]
			if err := stream.Send(msg); err != nil {
				if err == io.EOF {
					return serverDone()
				}
				return PutResult{}, fromStatus(ctx, err)
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			cancel() // the store's body read fails: nothing is stored
			return PutResult{}, fmt.Errorf("put: reading the message: %w", rerr)
		}
	}
	trailer := &storev1.PutTrailer{Size: n, Sha256: hex.EncodeToString(sum.Sum(nil))}
	if err := stream.Send(&storev1.PutRequest{Part: &storev1.PutRequest_Trailer{Trailer: trailer}}); err != nil && err != io.EOF {
		return PutResult{}, fromStatus(ctx, err)
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return PutResult{}, fromStatus(ctx, err)
	}
	return PutResult{
		UID:         resp.GetUid(),
		Size:        resp.GetSize(),
		SHA256:      resp.GetSha256(),
		Tag:         Tag(resp.GetTag()),
		Existing:    resp.GetExisting(),
		DuplicateOf: resp.GetDuplicateOf(),
	}, nil
}

// Authenticate implements Authenticator.
func (r *Remote) Authenticate(ctx context.Context, user, pass string) (string, error) {
	resp, err := r.c.Authenticate(ctx, &storev1.AuthenticateRequest{User: user, Pass: pass})
	if err != nil {
		return "", fromStatus(ctx, err)
	}
	return resp.GetMailbox(), nil
}

// Lock implements Locker.
func (r *Remote) Lock(ctx context.Context, mailbox string) (string, error) {
	resp, err := r.c.Lock(ctx, &storev1.LockRequest{Mailbox: mailbox})
	if err != nil {
		return "", fromStatus(ctx, err)
	}
	return resp.GetToken(), nil
}

// Unlock implements Locker.
func (r *Remote) Unlock(ctx context.Context, mailbox, token string) error {
	_, err := r.c.Unlock(ctx, &storev1.UnlockRequest{Mailbox: mailbox, Token: token})
	return fromStatus(ctx, err)
}

// Check implements Checker.
func (r *Remote) Check(ctx context.Context) error {
	_, err := r.c.Check(ctx, &storev1.CheckRequest{})
	return fromStatus(ctx, err)
}
