package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/internal/storev1"
	"github.com/izyware/izypop3/sdk/internal/transport"
)

// BatchFetcher is the host side of the FetchBatch RPC: a sequential
// read-ahead of several items of one mailbox over one stream, so that a host
// retrieving a run of messages pays for one plugin call instead of one per
// message. It is sdk.BatchFetcher: sdk.Serve answers FetchBatch for every
// store (with the store's own sdk.BatchFetcher when it has one, else item
// by item through its Fetch) and advertises it as CapBatchFetcher. *Remote
// implements it; against a plugin built with an sdk older than the RPC,
// FetchBatch returns an error wrapping sdk.ErrUnsupported, and Narrow leaves
// it out for such a plugin, which does not advertise it. Seen through a
// plugin, a broken stream makes Next and Read return an error wrapping
// sdk.ErrUnavailable, and every later call too.
type BatchFetcher = sdk.BatchFetcher

// BatchReader reads the items of a FetchBatch (sdk.BatchReader).
type BatchReader = sdk.BatchReader

// FetchBatch implements BatchFetcher. An older plugin gives an error
// wrapping ErrUnsupported.
func (r *Remote) FetchBatch(ctx context.Context, mailbox string, uids []string) (BatchReader, error) {
	sctx, cancel := context.WithCancel(ctx)
	stream, err := r.c.FetchBatch(sctx, &storev1.FetchBatchRequest{Mailbox: mailbox, Uids: uids}, transport.FetchCallOption)
	if err != nil {
		cancel()
		return nil, transport.FromStatus(ctx, err)
	}
	b := &batchReader{parent: ctx, stream: stream, cancel: cancel}
	if err := b.recv(); err != nil && err != io.EOF {
		return nil, err // Unimplemented: sdk.ErrUnsupported
	}
	b.pending = b.err == nil
	b.done = transport.StreamOpened()
	return b, nil
}

// batchReader is the BatchReader of Remote.FetchBatch.
type batchReader struct {
	parent context.Context
	stream grpc.ServerStreamingClient[storev1.FetchBatchResponse]
	cancel context.CancelFunc
	closed atomic.Bool
	done   func() // ends the stream's count (ReleaseMemoryWhenIdle)

	msg     transport.BatchMsg // every message is received here; a chunk's data stays in its buffers
	pending bool               // msg holds a message Next has not consumed
	err     error              // sticky: io.EOF at the end, or the stream's failure
	cur     *batchItem         // the item Next returned last
}

// recv receives the next message into b.msg, or sets b.err.
func (b *batchReader) recv() error {
	if b.err != nil {
		return b.err
	}
	err := b.stream.RecvMsg(&b.msg)
	switch {
	case err == io.EOF:
		b.err = io.EOF
		b.cancel()
	case err != nil:
		b.err = transport.FromStatus(b.parent, err)
		b.cancel()
	}
	if b.err != nil {
		b.msg.Release()
	}
	return b.err
}

// errBatchClosed is returned by a BatchReader used after Close, and by an
// item's reader used after Next.
var errBatchClosed = errors.New("pluginhost: use of a closed fetch batch")

func (b *batchReader) Next() (string, io.Reader, error) {
	if b.closed.Load() {
		return "", nil, errBatchClosed
	}
	if it := b.cur; it != nil {
		b.cur = nil
		for !it.ended { // skip the unread rest; a broken stream sets b.err
			it.segs = nil
			it.advance()
		}
	}
	if !b.pending {
		if err := b.recv(); err != nil {
			return "", nil, err
		}
	}
	b.pending = false
	switch part := b.msg.Resp.GetPart().(type) {
	case *storev1.FetchBatchResponse_Chunk:
		c := part.Chunk
		if c.GetUid() == "" {
			return "", nil, b.broken("a chunk without a uid starts an item")
		}
		b.cur = &batchItem{b: b, segs: b.msg.Data(), ended: c.GetLast()}
		return c.GetUid(), b.cur, nil
	case *storev1.FetchBatchResponse_Error:
		return part.Error.GetUid(), nil, transport.ItemError(codes.Code(part.Error.GetCode()), part.Error.GetMessage())
	default:
		return "", nil, b.broken("unexpected message")
	}
}

// broken ends a stream that does not follow the protocol.
func (b *batchReader) broken(what string) error {
	b.err = fmt.Errorf("%w: fetch batch: plugin protocol error: %s", sdk.ErrUnavailable, what)
	b.cancel()
	return b.err
}

func (b *batchReader) Close() error {
	if !b.closed.Swap(true) {
		b.done()
	}
	b.cancel()
	return nil
}

// batchItem is the reader of one item of a batch.
type batchItem struct {
	b     *batchReader
	segs  [][]byte // unread part of the current chunk (b.msg's data)
	ended bool     // the item's last chunk or its error was received
	err   error    // sticky: the item's error or the stream's
}

func (it *batchItem) Read(p []byte) (int, error) {
	if it.b.cur != it || it.b.closed.Load() {
		return 0, errBatchClosed
	}
	for {
		for len(it.segs) > 0 && len(it.segs[0]) == 0 {
			it.segs = it.segs[1:]
		}
		if len(it.segs) > 0 {
			break
		}
		if it.err != nil {
			return 0, it.err
		}
		if it.ended {
			return 0, io.EOF
		}
		it.advance()
	}
	n := 0
	for n < len(p) && len(it.segs) > 0 {
		k := copy(p[n:], it.segs[0])
		n += k
		it.segs[0] = it.segs[0][k:]
		if len(it.segs[0]) == 0 {
			it.segs = it.segs[1:]
		}
	}
	return n, nil
}

// advance receives the item's next message; on return it.segs holds
// data, or it.ended is set.
func (it *batchItem) advance() {
	b := it.b
	if err := b.recv(); err != nil {
		if err == io.EOF {
			err = b.broken("the stream ended inside an item")
		}
		it.err, it.ended = err, true
		return
	}
	switch part := b.msg.Resp.GetPart().(type) {
	case *storev1.FetchBatchResponse_Chunk:
		c := part.Chunk
		if c.GetUid() != "" {
			it.err, it.ended = b.broken("a new item started before the end of the previous one"), true
			return
		}
		it.segs, it.ended = b.msg.Data(), c.GetLast()
	case *storev1.FetchBatchResponse_Error:
		it.err, it.ended = transport.ItemError(codes.Code(part.Error.GetCode()), part.Error.GetMessage()), true
	default:
		it.err, it.ended = b.broken("unexpected message"), true
	}
}
