package sdk

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/izyware/izypop3/sdk/internal/storev1"
	"github.com/izyware/izypop3/sdk/internal/transport"
)

// listBatchItems is the most items one List stream message carries.
const listBatchItems = transport.ListBatchItems

// listBatchBytes bounds the estimated encoded size of one List batch, far
// below gRPC's 4 MiB message limit even with long SourceIDs.
const listBatchBytes = 1 << 20

// grpcServer adapts a Store to the generated storev1.StoreServer.
type grpcServer struct {
	storev1.UnimplementedStoreServer
	store Store
	info  transport.Info
}

// newGRPCServer returns the gRPC adapter for s; info.SDKVersion and
// info.Capabilities are filled in from this sdk and from s.
func newGRPCServer(s Store, info transport.Info) *grpcServer {
	info.SDKVersion = Version
	info.Capabilities = capabilities(s)
	return &grpcServer{store: s, info: info}
}

func init() {
	transport.NewStoreServer = func(s any, info transport.Info) storev1.StoreServer {
		return newGRPCServer(s.(Store), info)
	}
}

// capabilities returns the names of the optional interfaces s implements,
// and FetchBatch and PutBatch, which the sdk serves for every store.
func capabilities(s Store) []string {
	var caps []string
	if _, ok := s.(Configurer); ok {
		caps = append(caps, transport.CapConfigurer)
	}
	if _, ok := s.(Authenticator); ok {
		caps = append(caps, transport.CapAuthenticator)
	}
	if _, ok := s.(TopFetcher); ok {
		caps = append(caps, transport.CapTopFetcher)
	}
	if _, ok := s.(Locker); ok {
		caps = append(caps, transport.CapLocker)
	}
	if _, ok := s.(Checker); ok {
		caps = append(caps, transport.CapChecker)
	}
	if _, ok := s.(Syncer); ok {
		caps = append(caps, transport.CapSyncer)
	}
	if _, ok := s.(Closer); ok {
		caps = append(caps, transport.CapCloser)
	}
	return append(caps, transport.CapBatchFetcher, transport.CapBatchPutter)
}

var _ storev1.StoreServer = (*grpcServer)(nil)

func (g *grpcServer) GetInfo(context.Context, *storev1.GetInfoRequest) (*storev1.GetInfoResponse, error) {
	resp := &storev1.GetInfoResponse{
		Name:         g.info.Name,
		Version:      g.info.Version,
		SdkVersion:   g.info.SDKVersion,
		Capabilities: g.info.Capabilities,
	}
	if d, ok := g.store.(ConfigDescriber); ok {
		for _, k := range d.ConfigKeys() {
			resp.ConfigKeys = append(resp.ConfigKeys, &storev1.ConfigKey{Name: k.Name, Help: k.Help})
		}
	}
	return resp, nil
}

func (g *grpcServer) Configure(ctx context.Context, req *storev1.ConfigureRequest) (*storev1.ConfigureResponse, error) {
	c, ok := g.store.(Configurer)
	if !ok {
		return nil, unimplemented("Configure")
	}
	cfg := req.GetConfig()
	if cfg == nil {
		cfg = map[string]string{}
	}
	if err := c.Configure(ctx, cfg); err != nil {
		return nil, transport.ToStatus(err)
	}
	return &storev1.ConfigureResponse{}, nil
}

func (g *grpcServer) List(req *storev1.ListRequest, stream grpc.ServerStreamingServer[storev1.ListResponse]) error {
	opts := ListOptions{Limit: int(req.GetLimit())}
	for _, t := range req.GetTags() {
		opts.Tags = append(opts.Tags, Tag(t))
	}
	batch := make([]*storev1.Item, 0, listBatchItems)
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := stream.Send(&storev1.ListResponse{Items: batch})
		batch = batch[:0] // Send has marshalled the message
		size = 0
		return err
	}
	for it, err := range g.store.List(stream.Context(), req.GetMailbox(), opts) {
		if err != nil {
			return transport.ToStatus(err)
		}
		batch = append(batch, itemToProto(it))
		size += len(it.UID) + len(it.SourceID) + len(it.Tag) + 48
		if len(batch) == listBatchItems || size >= listBatchBytes {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

func (g *grpcServer) Stat(ctx context.Context, req *storev1.StatRequest) (*storev1.StatResponse, error) {
	st, err := g.store.Stat(ctx, req.GetMailbox())
	if err != nil {
		return nil, transport.ToStatus(err)
	}
	resp := &storev1.StatResponse{Tags: make(map[string]*storev1.TagStat, len(st))}
	for t, s := range st {
		resp.Tags[string(t)] = &storev1.TagStat{Count: s.Count, Size: s.Size}
	}
	return resp, nil
}

func (g *grpcServer) Fetch(req *storev1.FetchRequest, stream grpc.ServerStreamingServer[storev1.Chunk]) error {
	rc, err := g.store.Fetch(stream.Context(), req.GetMailbox(), req.GetUid())
	if err != nil {
		return transport.ToStatus(err)
	}
	return sendChunks(rc, stream)
}

func (g *grpcServer) FetchTop(req *storev1.FetchTopRequest, stream grpc.ServerStreamingServer[storev1.Chunk]) error {
	tf, ok := g.store.(TopFetcher)
	if !ok {
		return unimplemented("FetchTop")
	}
	rc, err := tf.FetchTop(stream.Context(), req.GetMailbox(), req.GetUid(), int(req.GetLines()))
	if err != nil {
		return transport.ToStatus(err)
	}
	return sendChunks(rc, stream)
}

// sendChunks streams rc in ChunkSize pieces and closes it. Each piece is
// read into a pooled buffer that gRPC takes over and gives back once it has
// written it (transport.OutChunk): nothing is copied, and a stream the host
// does not read holds only the few chunks flow control lets it queue.
func sendChunks(rc io.ReadCloser, stream grpc.ServerStreamingServer[storev1.Chunk]) error {
	defer rc.Close()
	defer transport.StreamOpened()()
	var chunk transport.OutChunk
	defer chunk.Release()
	for {
		n, err := io.ReadFull(rc, chunk.Buf())
		if n > 0 {
			chunk.SetLen(n)
			if serr := stream.SendMsg(&chunk); serr != nil {
				return serr
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return nil
		default:
			return transport.ToStatus(err)
		}
	}
}

func (g *grpcServer) SetTag(ctx context.Context, req *storev1.SetTagRequest) (*storev1.MutateResponse, error) {
	nf, err := g.store.SetTag(ctx, req.GetMailbox(), req.GetUids(), Tag(req.GetTag()))
	if err != nil {
		return nil, transport.ToStatus(err)
	}
	return &storev1.MutateResponse{NotFound: nf}, nil
}

func (g *grpcServer) Delete(ctx context.Context, req *storev1.DeleteRequest) (*storev1.MutateResponse, error) {
	nf, err := g.store.Delete(ctx, req.GetMailbox(), req.GetUids())
	if err != nil {
		return nil, transport.ToStatus(err)
	}
	return &storev1.MutateResponse{NotFound: nf}, nil
}

func (g *grpcServer) Put(stream grpc.ClientStreamingServer[storev1.PutRequest, storev1.PutResponse]) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	h := first.GetHeader()
	if h == nil {
		return status.Error(codes.InvalidArgument, "put: first message is not a header")
	}
	body := &putReader{stream: stream, sum: sha256.New()}
	res, err := g.store.Put(stream.Context(), h.GetMailbox(), putOptions(h), body)
	if err != nil {
		return transport.ToStatus(err)
	}
	if !body.verified {
		// The store did not read to the end (it must; an Existing result
		// drains the body). Read the rest so a bad trailer still fails the
		// call.
		if _, err := io.Copy(io.Discard, body); err != nil {
			return transport.ToStatus(err)
		}
	}
	return stream.SendAndClose(putResponse(res))
}

// putOptions returns the options of a Put header.
func putOptions(h *storev1.PutHeader) PutOptions {
	opts := PutOptions{Tag: Tag(h.GetTag()), SourceID: h.GetSourceId(), DeferSync: h.GetDeferSync()}
	if ns := h.GetReceivedUnixNano(); ns != 0 {
		opts.Received = time.Unix(0, ns)
	}
	return opts
}

func putResponse(res PutResult) *storev1.PutResponse {
	return &storev1.PutResponse{
		Uid:         res.UID,
		Size:        res.Size,
		Sha256:      res.SHA256,
		Tag:         string(res.Tag),
		Existing:    res.Existing,
		DuplicateOf: res.DuplicateOf,
	}
}

// recvStream is the receiving side of a Put or PutBatch stream.
type recvStream interface {
	RecvMsg(m any) error
	Context() context.Context
}

// putReader is the body a Store's Put reads on the plugin side. It yields the
// data chunks of the stream and, at the end, io.EOF only if a trailer came
// whose size and SHA-256 match the octets yielded; otherwise (no trailer,
// mismatch, broken stream) it returns an error, so a store that honours read
// errors stores nothing.
type putReader struct {
	stream   recvStream
	msg      storev1.PutRequest       // every message is received into msg
	data     *storev1.PutRequest_Data // its data part, reused (chunkCodec)
	buf      []byte                   // rest of the current chunk
	n        int64
	sum      hash.Hash
	verified bool  // a trailer came and matched
	ended    bool  // a trailer came (the item's last message)
	err      error // sticky
}

// SHA256 implements Digester: the digest of the data received, which after
// io.EOF is the verified digest of the whole item.
func (r *putReader) SHA256() [32]byte {
	var d [32]byte
	r.sum.Sum(d[:0])
	return d
}

func (r *putReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		r.err = r.next()
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// next receives one message and returns the error to report once the data
// already buffered is consumed (nil to keep reading).
func (r *putReader) next() error {
	if r.data == nil {
		r.data = &storev1.PutRequest_Data{}
	}
	r.msg.Part = r.data // lets chunkCodec decode into r.data.Data
	err := r.stream.RecvMsg(&r.msg)
	msg := &r.msg
	if err == io.EOF {
		return fmt.Errorf("%w: put: stream ended without a trailer after %d octets", ErrInvalid, r.n)
	}
	if err != nil {
		return transport.FromStatus(r.stream.Context(), err)
	}
	switch part := msg.GetPart().(type) {
	case *storev1.PutRequest_Data:
		r.data = part
		r.buf = part.Data
		r.n += int64(len(part.Data))
		r.sum.Write(part.Data)
		return nil
	case *storev1.PutRequest_Trailer:
		t := part.Trailer
		r.ended = true
		if t.GetAbort() {
			return fmt.Errorf("%w: put: the host could not read the message whole: nothing is stored", ErrInvalid)
		}
		if t.GetSize() != r.n {
			return fmt.Errorf("%w: put: trailer says %d octets, %d received", ErrInvalid, t.GetSize(), r.n)
		}
		if got := hex.EncodeToString(r.sum.Sum(nil)); got != t.GetSha256() {
			return fmt.Errorf("%w: put: trailer sha256 %q does not match the data received (%s)", ErrInvalid, t.GetSha256(), got)
		}
		r.verified = true
		return io.EOF
	default:
		return fmt.Errorf("%w: put: unexpected message in the body", ErrInvalid)
	}
}

func (g *grpcServer) Authenticate(ctx context.Context, req *storev1.AuthenticateRequest) (*storev1.AuthenticateResponse, error) {
	a, ok := g.store.(Authenticator)
	if !ok {
		return nil, unimplemented("Authenticate")
	}
	mb, err := a.Authenticate(ctx, req.GetUser(), req.GetPass())
	if err != nil {
		return nil, transport.ToStatus(err)
	}
	return &storev1.AuthenticateResponse{Mailbox: mb}, nil
}

func (g *grpcServer) Lock(ctx context.Context, req *storev1.LockRequest) (*storev1.LockResponse, error) {
	l, ok := g.store.(Locker)
	if !ok {
		return nil, unimplemented("Lock")
	}
	tok, err := l.Lock(ctx, req.GetMailbox())
	if err != nil {
		return nil, transport.ToStatus(err)
	}
	return &storev1.LockResponse{Token: tok}, nil
}

func (g *grpcServer) Unlock(ctx context.Context, req *storev1.UnlockRequest) (*storev1.UnlockResponse, error) {
	l, ok := g.store.(Locker)
	if !ok {
		return nil, unimplemented("Unlock")
	}
	if err := l.Unlock(ctx, req.GetMailbox(), req.GetToken()); err != nil {
		return nil, transport.ToStatus(err)
	}
	return &storev1.UnlockResponse{}, nil
}

func (g *grpcServer) Check(ctx context.Context, _ *storev1.CheckRequest) (*storev1.CheckResponse, error) {
	c, ok := g.store.(Checker)
	if !ok {
		return nil, unimplemented("Check")
	}
	if err := c.Check(ctx); err != nil {
		return nil, transport.ToStatus(err)
	}
	return &storev1.CheckResponse{}, nil
}

func (g *grpcServer) Sync(ctx context.Context, req *storev1.SyncRequest) (*storev1.SyncResponse, error) {
	sy, ok := g.store.(Syncer)
	if !ok {
		return nil, unimplemented("Sync")
	}
	if err := sy.Sync(ctx, req.GetMailbox()); err != nil {
		return nil, transport.ToStatus(err)
	}
	return &storev1.SyncResponse{}, nil
}

func unimplemented(method string) error {
	return status.Errorf(codes.Unimplemented, "%s: %s is not implemented by this store", ErrUnsupported, method)
}

func itemToProto(it Item) *storev1.Item {
	var rx int64
	if !it.Received.IsZero() {
		rx = it.Received.UnixNano()
	}
	return &storev1.Item{
		Uid:              it.UID,
		Size:             it.Size,
		WireSize:         it.WireSize,
		Tag:              string(it.Tag),
		SourceId:         it.SourceID,
		ReceivedUnixNano: rx,
	}
}
