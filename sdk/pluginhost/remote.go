package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/internal/storev1"
	"github.com/izyware/izypop3/sdk/internal/transport"
)

// Remote is a store served by another process (or by ServeInProcess), seen
// from the host: the plain client of the protocol. It implements sdk.Store,
// every optional interface but sdk.Closer, and BatchFetcher; a method whose
// interface the plugin lacks returns an error wrapping sdk.ErrUnsupported.
// To hand the store to code that finds capabilities by type assertion, wrap
// it with Narrow and the capabilities of its Info.
//
// Errors keep their sentinel identity (errors.Is(err, sdk.ErrNotFound)
// works); a plugin that died or a closed connection gives an error wrapping
// sdk.ErrUnavailable.
type Remote struct {
	c storev1.StoreClient
}

var _ Full = (*Remote)(nil)

// NewRemote returns a Remote speaking over conn, a connection to a plugin's
// gRPC server (for instance the *grpc.ClientConn go-plugin dispenses).
func NewRemote(conn grpc.ClientConnInterface) *Remote {
	return &Remote{c: storev1.NewStoreClient(conn)}
}

// Info asks the plugin for its name, versions and capabilities.
func (r *Remote) Info(ctx context.Context) (Info, error) {
	resp, err := r.c.GetInfo(ctx, &storev1.GetInfoRequest{})
	if err != nil {
		return Info{}, transport.FromStatus(ctx, err)
	}
	info := Info{
		Name:         resp.GetName(),
		Version:      resp.GetVersion(),
		SDKVersion:   resp.GetSdkVersion(),
		Capabilities: resp.GetCapabilities(),
	}
	for _, k := range resp.GetConfigKeys() {
		info.ConfigKeys = append(info.ConfigKeys, sdk.ConfigKey{Name: k.GetName(), Help: k.GetHelp()})
	}
	return info, nil
}

// Configure implements sdk.Configurer.
func (r *Remote) Configure(ctx context.Context, config map[string]string) error {
	_, err := r.c.Configure(ctx, &storev1.ConfigureRequest{Config: config})
	return transport.FromStatus(ctx, err)
}

// List implements sdk.Store. The items arrive in batches; breaking out of the
// loop cancels the stream.
func (r *Remote) List(ctx context.Context, mailbox string, opts sdk.ListOptions) iter.Seq2[sdk.Item, error] {
	return func(yield func(sdk.Item, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		req := &storev1.ListRequest{Mailbox: mailbox, Limit: int64(opts.Limit)}
		for _, t := range opts.Tags {
			req.Tags = append(req.Tags, string(t))
		}
		stream, err := r.c.List(ctx, req)
		if err != nil {
			yield(sdk.Item{}, transport.FromStatus(ctx, err))
			return
		}
		for {
			resp, err := stream.Recv()
			if err == io.EOF {
				return
			}
			if err != nil {
				yield(sdk.Item{}, transport.FromStatus(ctx, err))
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

// Stat implements sdk.Store.
func (r *Remote) Stat(ctx context.Context, mailbox string) (map[sdk.Tag]sdk.TagStat, error) {
	resp, err := r.c.Stat(ctx, &storev1.StatRequest{Mailbox: mailbox})
	if err != nil {
		return nil, transport.FromStatus(ctx, err)
	}
	st := make(map[sdk.Tag]sdk.TagStat, len(resp.GetTags()))
	for t, s := range resp.GetTags() {
		st[sdk.Tag(t)] = sdk.TagStat{Count: s.GetCount(), Size: s.GetSize()}
	}
	return st, nil
}

// Fetch implements sdk.Store. The reader pulls chunks from the plugin as it is
// read; Close cancels the stream. A stream that breaks (plugin died) makes
// Read return an error wrapping sdk.ErrUnavailable, never a silent EOF.
func (r *Remote) Fetch(ctx context.Context, mailbox, uid string) (io.ReadCloser, error) {
	return openChunks(ctx, func(ctx context.Context) (grpc.ServerStreamingClient[storev1.Chunk], error) {
		return r.c.Fetch(ctx, &storev1.FetchRequest{Mailbox: mailbox, Uid: uid}, transport.FetchCallOption)
	})
}

// FetchTop implements sdk.TopFetcher.
func (r *Remote) FetchTop(ctx context.Context, mailbox, uid string, lines int) (io.ReadCloser, error) {
	return openChunks(ctx, func(ctx context.Context) (grpc.ServerStreamingClient[storev1.Chunk], error) {
		return r.c.FetchTop(ctx, &storev1.FetchTopRequest{Mailbox: mailbox, Uid: uid, Lines: int64(lines)}, transport.FetchCallOption)
	})
}

// openChunks starts a chunk stream and waits for its first message, so that
// NotFound and friends are returned by Fetch itself, not by the first Read.
func openChunks(parent context.Context, open func(context.Context) (grpc.ServerStreamingClient[storev1.Chunk], error)) (io.ReadCloser, error) {
	ctx, cancel := context.WithCancel(parent)
	stream, err := open(ctx)
	if err != nil {
		cancel()
		return nil, transport.FromStatus(parent, err)
	}
	cr := &chunkReader{parent: parent, stream: stream, cancel: cancel}
	err = stream.RecvMsg(&cr.msg)
	switch {
	case err == io.EOF:
		cr.err = io.EOF // empty message
	case err != nil:
		cancel()
		return nil, transport.FromStatus(parent, err)
	default:
		cr.buf = cr.msg.Data
	}
	cr.done = transport.StreamOpened()
	return cr, nil
}

// chunkReader is the io.ReadCloser of Remote.Fetch.
type chunkReader struct {
	parent context.Context
	stream grpc.ServerStreamingClient[storev1.Chunk]
	cancel context.CancelFunc

	done   func()        // ends the stream's count (ReleaseMemoryWhenIdle)
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
		return 0, errors.New("pluginhost: read of a closed fetch stream")
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
		c.err = transport.FromStatus(c.parent, err)
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
			return total, errors.New("pluginhost: read of a closed fetch stream")
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
	if !c.closed {
		c.done()
	}
	c.closed = true
	c.buf = nil
	c.mu.Unlock()
	return nil
}

// SetTag implements sdk.Store.
func (r *Remote) SetTag(ctx context.Context, mailbox string, uids []string, tag sdk.Tag) ([]string, error) {
	resp, err := r.c.SetTag(ctx, &storev1.SetTagRequest{Mailbox: mailbox, Uids: uids, Tag: string(tag)})
	if err != nil {
		return nil, transport.FromStatus(ctx, err)
	}
	return resp.GetNotFound(), nil
}

// Delete implements sdk.Store.
func (r *Remote) Delete(ctx context.Context, mailbox string, uids []string) ([]string, error) {
	resp, err := r.c.Delete(ctx, &storev1.DeleteRequest{Mailbox: mailbox, Uids: uids})
	if err != nil {
		return nil, transport.FromStatus(ctx, err)
	}
	return resp.GetNotFound(), nil
}

// Put implements sdk.Store. It streams body in ChunkSize pieces (one buffer),
// computing its size and SHA-256 on the way, and ends with the trailer the
// plugin checks. If reading body fails, the stream is canceled and the
// plugin's store sees a read error, so nothing is stored.
func (r *Remote) Put(ctx context.Context, mailbox string, opts sdk.PutOptions, body io.Reader) (sdk.PutResult, error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := r.c.Put(sctx)
	if err != nil {
		return sdk.PutResult{}, transport.FromStatus(ctx, err)
	}
	// serverDone reports the real outcome when Send says io.EOF: the plugin
	// ended the call early (a store error), which CloseAndRecv returns.
	serverDone := func() (sdk.PutResult, error) {
		_, err := stream.CloseAndRecv()
		if err == nil {
			err = fmt.Errorf("%w: put: plugin ended the stream before the trailer", sdk.ErrUnavailable)
		}
		return sdk.PutResult{}, transport.FromStatus(ctx, err)
	}
	trailer, readErr, err := sendPut(stream.Send, putHeader(mailbox, opts), body)
	switch {
	case err == io.EOF:
		return serverDone()
	case err != nil:
		return sdk.PutResult{}, transport.FromStatus(ctx, err)
	case readErr != nil:
		cancel() // the store's body read fails: nothing is stored
		return sdk.PutResult{}, readErr
	}
	if err := stream.Send(&storev1.PutRequest{Part: &storev1.PutRequest_Trailer{Trailer: trailer}}); err != nil && err != io.EOF {
		return sdk.PutResult{}, transport.FromStatus(ctx, err)
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return sdk.PutResult{}, transport.FromStatus(ctx, err)
	}
	return putResult(resp), nil
}

// Authenticate implements sdk.Authenticator.
func (r *Remote) Authenticate(ctx context.Context, user, pass string) (string, error) {
	resp, err := r.c.Authenticate(ctx, &storev1.AuthenticateRequest{User: user, Pass: pass})
	if err != nil {
		return "", transport.FromStatus(ctx, err)
	}
	return resp.GetMailbox(), nil
}

// Lock implements sdk.Locker.
func (r *Remote) Lock(ctx context.Context, mailbox string) (string, error) {
	resp, err := r.c.Lock(ctx, &storev1.LockRequest{Mailbox: mailbox})
	if err != nil {
		return "", transport.FromStatus(ctx, err)
	}
	return resp.GetToken(), nil
}

// Unlock implements sdk.Locker.
func (r *Remote) Unlock(ctx context.Context, mailbox, token string) error {
	_, err := r.c.Unlock(ctx, &storev1.UnlockRequest{Mailbox: mailbox, Token: token})
	return transport.FromStatus(ctx, err)
}

// BindLock implements Full. A connection reaches one plugin process only,
// so every call of r already runs where the lock lives (and fails with
// sdk.ErrUnavailable once that process is gone): it returns r. A type that
// embeds a *Remote to wrap some of its calls must override BindLock too, or
// the bound store is the bare Remote.
func (r *Remote) BindLock(mailbox, token string) Full { return r }

// Check implements sdk.Checker.
func (r *Remote) Check(ctx context.Context) error {
	_, err := r.c.Check(ctx, &storev1.CheckRequest{})
	return transport.FromStatus(ctx, err)
}

// Sync implements sdk.Syncer. A plugin without it answers an error
// wrapping sdk.ErrUnsupported.
func (r *Remote) Sync(ctx context.Context, mailbox string) error {
	_, err := r.c.Sync(ctx, &storev1.SyncRequest{Mailbox: mailbox})
	return transport.FromStatus(ctx, err)
}

func itemFromProto(p *storev1.Item) sdk.Item {
	it := sdk.Item{
		UID:      p.GetUid(),
		Size:     p.GetSize(),
		WireSize: p.GetWireSize(),
		Tag:      sdk.Tag(p.GetTag()),
		SourceID: p.GetSourceId(),
	}
	if ns := p.GetReceivedUnixNano(); ns != 0 {
		it.Received = time.Unix(0, ns)
	}
	return it
}
