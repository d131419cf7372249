package sdk

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/izyware/izypop3/sdk/internal/storev1"
	"github.com/izyware/izypop3/sdk/internal/transport"
)

// FetchBatch streams the items of the store's own BatchFetcher, or else
// one by one through Store.Fetch,
// each in ChunkSize pieces read into pooled buffers that gRPC takes over
// (transport.OutChunk): no item is held in memory, and gRPC flow control
// stops the reading when the host does not keep up.
func (g *grpcServer) FetchBatch(req *storev1.FetchBatchRequest, stream grpc.ServerStreamingServer[storev1.FetchBatchResponse]) error {
	ctx := stream.Context()
	defer transport.StreamOpened()()
	s := batchSender{stream: stream, chunk: transport.OutChunk{Batch: true}}
	defer s.chunk.Release()
	if bf, ok := g.store.(BatchFetcher); ok {
		return s.sendBatch(ctx, bf, req.GetMailbox(), req.GetUids())
	}
	for _, uid := range req.GetUids() {
		if err := ctx.Err(); err != nil {
			return transport.ToStatus(err)
		}
		rc, err := g.store.Fetch(ctx, req.GetMailbox(), uid)
		if err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return transport.ToStatus(cerr)
			}
			if err := s.sendError(uid, err); err != nil {
				return err
			}
			continue
		}
		if err := s.sendItem(uid, rc); err != nil {
			return err
		}
	}
	return nil
}

// batchSender sends the messages of one FetchBatch stream, reusing one
// chunk message.
type batchSender struct {
	stream grpc.ServerStreamingServer[storev1.FetchBatchResponse]
	chunk  transport.OutChunk
}

// sendItem streams rc (and closes it). The first chunk carries the uid, the
// last one last = true; a read error ends the item with a FetchBatchError.
// The error returned is the stream's.
func (s *batchSender) sendItem(uid string, rc io.ReadCloser) error {
	defer rc.Close()
	s.chunk.UID = uid
	for {
		n, err := io.ReadFull(rc, s.chunk.Buf())
		end := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		if n > 0 || end {
			s.chunk.SetLen(n)
			s.chunk.Last = end
			if serr := s.stream.SendMsg(&s.chunk); serr != nil {
				return serr
			}
			s.chunk.UID = ""
		}
		switch {
		case end:
			return nil
		case err != nil:
			if cerr := s.stream.Context().Err(); cerr != nil {
				return transport.ToStatus(cerr)
			}
			return s.sendError(uid, err)
		}
	}
}

// sendBatch streams the items of the store's own BatchReader. An item
// error (a uid with it) is reported and the stream goes on; an error
// without a uid ends the stream.
func (s *batchSender) sendBatch(ctx context.Context, bf BatchFetcher, mailbox string, uids []string) error {
	br, err := bf.FetchBatch(ctx, mailbox, uids)
	if err != nil {
		return transport.ToStatus(err)
	}
	defer br.Close()
	for {
		uid, r, err := br.Next()
		if err == io.EOF {
			return nil
		}
		if cerr := ctx.Err(); cerr != nil {
			return transport.ToStatus(cerr)
		}
		switch {
		case r != nil && err == nil:
			if err := s.sendItem(uid, io.NopCloser(r)); err != nil {
				return err
			}
		case uid != "":
			if err == nil {
				err = errors.New("store: fetch batch item without a reader")
			}
			if err := s.sendError(uid, err); err != nil {
				return err
			}
		default:
			if err == nil {
				err = errors.New("store: fetch batch item without a uid")
			}
			return transport.ToStatus(err)
		}
	}
}

// sendError reports the failure of one item; the stream goes on.
func (s *batchSender) sendError(uid string, err error) error {
	st, _ := status.FromError(transport.ToStatus(err))
	return s.stream.Send(&storev1.FetchBatchResponse{Part: &storev1.FetchBatchResponse_Error{
		Error: &storev1.FetchBatchError{Uid: uid, Code: uint32(st.Code()), Message: st.Message()},
	}})
}

// PutBatch stores the items of the stream with the store's own BatchPutter,
// or else one by one through Store.Put, and answers each with its result or
// its error. Each item's body is received into one reused buffer, as for
// Put.
func (g *grpcServer) PutBatch(stream grpc.BidiStreamingServer[storev1.PutRequest, storev1.PutBatchResponse]) error {
	ctx := stream.Context()
	bp, _ := g.store.(BatchPutter)
	var (
		bw      BatchWriter
		mailbox string
		data    *storev1.PutRequest_Data
	)
	defer func() {
		if bw != nil {
			bw.Close()
		}
	}()
	for {
		first, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		h := first.GetHeader()
		if h == nil {
			return status.Error(codes.InvalidArgument, "put batch: an item does not start with a header")
		}
		body := &putReader{stream: stream, sum: sha256.New(), data: data}
		var res PutResult
		switch {
		case bp == nil:
			res, err = g.store.Put(ctx, h.GetMailbox(), putOptions(h), body)
		case bw == nil:
			mailbox = h.GetMailbox()
			if bw, err = bp.PutBatch(ctx, mailbox); err != nil {
				bw = nil
				return transport.ToStatus(err)
			}
			fallthrough
		default:
			if h.GetMailbox() != mailbox {
				err = fmt.Errorf("%w: put batch: item for mailbox %q in a batch of %q", ErrInvalid, h.GetMailbox(), mailbox)
			} else {
				res, err = bw.Put(putOptions(h), body)
			}
		}
		if !body.ended {
			// Read the item to its trailer: the stream goes on with the
			// next item. A bad trailer still fails this one.
			_, derr := io.Copy(io.Discard, body)
			if !body.ended {
				if cerr := ctx.Err(); cerr != nil {
					return transport.ToStatus(cerr)
				}
				return transport.ToStatus(derr)
			}
			if err == nil {
				err = derr
			}
		} else if err == nil && !body.verified {
			err = body.err
		}
		data = body.data
		var resp *storev1.PutBatchResponse
		if err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return transport.ToStatus(cerr)
			}
			st, _ := status.FromError(transport.ToStatus(err))
			resp = &storev1.PutBatchResponse{Part: &storev1.PutBatchResponse_Error{
				Error: &storev1.PutBatchError{Code: uint32(st.Code()), Message: st.Message()},
			}}
		} else {
			resp = &storev1.PutBatchResponse{Part: &storev1.PutBatchResponse_Result{Result: putResponse(res)}}
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}
