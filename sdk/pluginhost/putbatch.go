package pluginhost

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/internal/storev1"
	"github.com/izyware/izypop3/sdk/internal/transport"
)

// BatchPutter is the host side of the PutBatch RPC: the Puts of a run of
// messages into one mailbox over one stream, so that a host storing them
// (the fetcher) pays for one plugin call instead of one per message. It is
// sdk.BatchPutter: sdk.Serve answers PutBatch for every store (with the
// store's own sdk.BatchPutter when it has one, else item by item through
// its Put) and advertises it as CapBatchPutter. *Remote implements it;
// against a plugin built with an sdk older than the RPC, the first Put of
// the batch returns an error wrapping sdk.ErrUnsupported, and Narrow leaves
// it out for such a plugin, which does not advertise it. Seen through a
// plugin, a broken stream makes Put return an error wrapping
// sdk.ErrUnavailable, and every later Put too.
type BatchPutter = sdk.BatchPutter

// BatchWriter stores the items of a PutBatch (sdk.BatchWriter).
type BatchWriter = sdk.BatchWriter

// PutBatch implements BatchPutter. The stream is opened by the first Put.
func (r *Remote) PutBatch(ctx context.Context, mailbox string) (BatchWriter, error) {
	sctx, cancel := context.WithCancel(ctx)
	return &batchWriter{r: r, parent: ctx, ctx: sctx, cancel: cancel, mailbox: mailbox}, nil
}

// batchWriter is the BatchWriter of Remote.PutBatch.
type batchWriter struct {
	r       *Remote
	parent  context.Context
	ctx     context.Context
	cancel  context.CancelFunc
	mailbox string

	mu     sync.Mutex // Close against Put, Send and Result
	stream grpc.BidiStreamingClient[storev1.PutRequest, storev1.PutBatchResponse]
	err    error // sticky: the stream is unusable
	closed bool
	busy   bool // a call runs, or items sent wait for their result

	// pending holds, for each item sent and not yet answered (oldest
	// first), body's failure (nil: the item was sent whole).
	pending []error
}

var errPutBatchClosed = errors.New("pluginhost: use of a closed put batch")

// Put implements sdk.BatchWriter: Send, then Result.
func (b *batchWriter) Put(opts sdk.PutOptions, body io.Reader) (sdk.PutResult, error) {
	if len(b.pending) > 0 {
		return sdk.PutResult{}, errors.New("pluginhost: put batch: Put while items sent wait for their result")
	}
	if err := b.Send(opts, body); err != nil {
		return sdk.PutResult{}, err
	}
	return b.Result()
}

// Send implements sdk.BatchSender.
func (b *batchWriter) Send(opts sdk.PutOptions, body io.Reader) error {
	if err := b.begin(); err != nil {
		return err
	}
	defer b.end()
	if b.stream == nil {
		s, err := b.r.c.PutBatch(b.ctx)
		if err != nil {
			return b.fail(transport.FromStatus(b.parent, err))
		}
		b.stream = s
	}
	readErr, err := b.send(opts, body)
	if err != nil {
		return b.fail(err)
	}
	b.pending = append(b.pending, readErr)
	return nil
}

// Result implements sdk.BatchSender.
func (b *batchWriter) Result() (sdk.PutResult, error) {
	if len(b.pending) == 0 {
		return sdk.PutResult{}, errors.New("pluginhost: put batch: Result without an item sent")
	}
	readErr := b.pending[0]
	b.pending = append(b.pending[:0], b.pending[1:]...) // keeps its array: no allocation per item
	if err := b.begin(); err != nil {
		return sdk.PutResult{}, err
	}
	defer b.end()
	res, readErr, err := b.recv(readErr)
	if err != nil {
		return sdk.PutResult{}, b.fail(err)
	}
	if readErr != nil {
		return sdk.PutResult{}, readErr
	}
	return res, nil
}

// begin starts a call: it fails on a closed or broken batch.
func (b *batchWriter) begin() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed:
		return errPutBatchClosed
	case b.err != nil:
		return b.err
	}
	b.busy = true
	return nil
}

// end ends a call; the batch stays busy while results are pending.
func (b *batchWriter) end() {
	busy := len(b.pending) > 0
	b.mu.Lock()
	b.busy = busy
	b.mu.Unlock()
}

// send sends one item. readErr is body's failure (the item was aborted:
// its trailer says so); err is the stream's.
func (b *batchWriter) send(opts sdk.PutOptions, body io.Reader) (readErr, err error) {
	hdr := putHeader(b.mailbox, opts)
	trailer, readErr, err := sendPut(b.stream.Send, hdr, body)
	if err == io.EOF {
		// The plugin ended the stream: its status says why.
		_, err = b.stream.Recv()
		if err == nil || err == io.EOF {
			err = fmt.Errorf("%w: put batch: plugin ended the stream inside an item", sdk.ErrUnavailable)
		}
	}
	if err != nil {
		return nil, transport.FromStatus(b.parent, err)
	}
	if readErr != nil {
		trailer.Abort = true
	}
	if err := b.stream.Send(&storev1.PutRequest{Part: &storev1.PutRequest_Trailer{Trailer: trailer}}); err != nil {
		if err == io.EOF {
			_, err = b.stream.Recv()
			if err == nil || err == io.EOF {
				err = fmt.Errorf("%w: put batch: plugin ended the stream inside an item", sdk.ErrUnavailable)
			}
		}
		return nil, transport.FromStatus(b.parent, err)
	}
	return readErr, nil
}

// recv receives the outcome of the oldest item sent; readErr is what send
// returned for it.
func (b *batchWriter) recv(readErr error) (res sdk.PutResult, _, err error) {
	resp, err := b.stream.Recv()
	if err == io.EOF {
		err = fmt.Errorf("%w: put batch: plugin ended the stream without answering an item", sdk.ErrUnavailable)
	}
	if err != nil {
		return res, nil, transport.FromStatus(b.parent, err)
	}
	switch part := resp.GetPart().(type) {
	case *storev1.PutBatchResponse_Result:
		if readErr != nil {
			return res, nil, fmt.Errorf("%w: put batch: plugin stored an item the host aborted", sdk.ErrUnavailable)
		}
		return putResult(part.Result), nil, nil
	case *storev1.PutBatchResponse_Error:
		if readErr != nil {
			return res, readErr, nil
		}
		return res, transport.ItemError(codes.Code(part.Error.GetCode()), part.Error.GetMessage()), nil
	default:
		return res, nil, fmt.Errorf("%w: put batch: plugin protocol error: unexpected message", sdk.ErrUnavailable)
	}
}

// fail makes err the batch's sticky error and ends the stream.
func (b *batchWriter) fail(err error) error {
	b.mu.Lock()
	if b.err == nil {
		b.err = err
	}
	b.mu.Unlock()
	b.cancel()
	return err
}

// Close ends the batch: the host's side of the stream is closed and the
// plugin's end awaited (unless a Put is still running, which is canceled).
func (b *batchWriter) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	s, idle := b.stream, !b.busy && b.err == nil
	b.mu.Unlock()
	if s != nil && idle {
		if s.CloseSend() == nil {
			s.Recv() // io.EOF once the plugin is done
		}
	}
	b.cancel()
	return nil
}

func putHeader(mailbox string, opts sdk.PutOptions) *storev1.PutHeader {
	hdr := &storev1.PutHeader{Mailbox: mailbox, Tag: string(opts.Tag), SourceId: opts.SourceID, DeferSync: opts.DeferSync}
	if !opts.Received.IsZero() {
		hdr.ReceivedUnixNano = opts.Received.UnixNano()
	}
	return hdr
}

func putResult(resp *storev1.PutResponse) sdk.PutResult {
	return sdk.PutResult{
		UID:         resp.GetUid(),
		Size:        resp.GetSize(),
		SHA256:      resp.GetSha256(),
		Tag:         sdk.Tag(resp.GetTag()),
		Existing:    resp.GetExisting(),
		DuplicateOf: resp.GetDuplicateOf(),
	}
}

// sendPut sends the header and the data of one item in ChunkSize pieces
// through one pooled buffer, and returns the trailer to send. readErr is
// body's failure (the data sent so far is not the whole item); err is
// send's (io.EOF: the plugin ended the call).
func sendPut(send func(*storev1.PutRequest) error, hdr *storev1.PutHeader, body io.Reader) (trailer *storev1.PutTrailer, readErr, err error) {
	if err := send(&storev1.PutRequest{Part: &storev1.PutRequest_Header{Header: hdr}}); err != nil {
		return nil, nil, err
	}
	bp := transport.GetChunk()
	defer transport.PutChunk(bp)
	buf := *bp
	// A body that hashes what it yields (sdk.Digester) is not hashed again.
	sum := sdk.DigestOf(body)
	var n int64
	data := &storev1.PutRequest_Data{}
	msg := &storev1.PutRequest{Part: data}
	for {
		k, rerr := io.ReadFull(body, buf)
		if k > 0 {
			sum.Write(buf[:k])
			n += int64(k)
			data.Data = buf[:k]
			if err := send(msg); err != nil {
				return nil, nil, err
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return &storev1.PutTrailer{Size: n}, fmt.Errorf("put: reading the message: %w", rerr), nil
		}
	}
	d := sum.Sum()
	return &storev1.PutTrailer{Size: n, Sha256: hex.EncodeToString(d[:])}, nil, nil
}
