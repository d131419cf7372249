package transport

import (
	"sync"
	"sync/atomic"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/izyware/izypop3/sdk/internal/storev1"
)

// The plugin's side of a Fetch, FetchTop or FetchBatch stream holds no copy
// of what it sends: the store reads each chunk into a pooled buffer, which
// chunkCodec hands to gRPC as the encoded message (the protobuf header is
// written into headroom before the data), and gRPC gives the buffer back
// once it has written it to the connection. A stream whose host does not
// read (a POP3 client that stalled a RETR) so holds at most what gRPC lets
// it queue: the chunk being written out when the stream's flow-control
// window closed, one more accepted within the write quota, and the one
// waiting for that quota, about 3 chunks.
//
// Before, each chunk was copied into a buffer of gRPC's default pool, whose
// tier for a 256 KiB message is 1 MiB, on top of the stream's own read
// buffer: a stalled stream held 1.5 MiB of heap (3.3 MB of RSS).
const (
	// SendMemory bounds the ChunkSize buffers out at once over all the
	// streams of a plugin (32 MiB: 128 chunks, the pipe of ~40 streams in
	// full flow). Beyond it a chunk is read into a buffer of
	// smallChunkSize, slower to stream but never refused, so stalled
	// streams cannot take the memory of the others.
	SendMemory = 32 << 20

	// smallChunkSize is the size of a chunk sent while SendMemory is in
	// use: a stalled stream then holds ~100 KiB.
	smallChunkSize = 32 << 10

	// chunkHeadroom is the space before a chunk's data where its
	// protobuf header is written: a FetchBatchResponse's tags and lengths
	// and the item's uid. A header that does not fit (a uid of over ~100
	// octets) is encoded by copying.
	chunkHeadroom = 128

	// copyBelow: a chunk smaller than this is copied out, and its buffer
	// given back at once (the last chunk of most messages).
	copyBelow = 4 << 10
)

// sendInUse counts the ChunkSize buffers out (SendMemory). gRPC frees
// every buffer it is given, when written or when its stream ends, except
// the chunks still queued on a connection that breaks: those are counted
// for good. A plugin's connection breaking ends the plugin; a process
// serving in-process stores across many broken connections would only see
// more of its chunks sent small.
var sendInUse atomic.Int64

var (
	bigSendPool   = sync.Pool{New: func() any { b := make([]byte, chunkHeadroom+ChunkSize); return &b }}
	smallSendPool = sync.Pool{New: func() any { b := make([]byte, chunkHeadroom+smallChunkSize); return &b }}
)

// sendPool is the mem.BufferPool the chunk buffers are given back to, by
// gRPC (when it has written a chunk) or by OutChunk.Release.
type sendPool struct{}

func (sendPool) Get(n int) *[]byte {
	b := make([]byte, n) // not used: OutChunk takes its buffers itself
	return &b
}

func (sendPool) Put(b *[]byte) {
	*b = (*b)[:cap(*b)]
	switch cap(*b) {
	case chunkHeadroom + ChunkSize:
		bigSendPool.Put(b)
		sendInUse.Add(-1)
	case chunkHeadroom + smallChunkSize:
		smallSendPool.Put(b)
	}
}

// SendBuffersInUse returns the ChunkSize send buffers out at the moment
// (for tests).
func SendBuffersInUse() int64 { return sendInUse.Load() }

// OutChunk is one chunk of a Fetch or FetchTop stream (a Chunk) or of a
// FetchBatch stream (a FetchBatchResponse chunk part, with Batch set), sent
// with the stream's SendMsg. Buf gives the buffer to read the data into; a
// successful SendMsg passes the buffer on to gRPC, and the next Buf takes
// another. Release gives back a buffer not sent. The zero value is ready.
type OutChunk struct {
	Batch bool   // a FetchBatchResponse, with UID and Last
	UID   string // FetchBatch: the item's uid (its first chunk only)
	Last  bool   // FetchBatch: the item's last chunk

	bp *[]byte // the buffer, while this chunk holds it
	n  int     // octets of data in it
}

// Buf returns the space to read the next chunk's data into: ChunkSize
// octets, or smallChunkSize while SendMemory is in use.
func (c *OutChunk) Buf() []byte {
	if c.bp == nil {
		if sendInUse.Add(1) <= SendMemory/ChunkSize {
			c.bp = bigSendPool.Get().(*[]byte)
		} else {
			sendInUse.Add(-1)
			c.bp = smallSendPool.Get().(*[]byte)
		}
	}
	c.n = 0
	return (*c.bp)[chunkHeadroom:]
}

// SetLen sets how many octets of Buf the chunk's data is.
func (c *OutChunk) SetLen(n int) { c.n = n }

// Release gives the buffer back if the chunk still holds it.
func (c *OutChunk) Release() {
	if c.bp != nil {
		sendPool{}.Put(c.bp)
		c.bp = nil
	}
}

// marshal encodes c; the buffer passes to the BufferSlice returned (and so
// to gRPC, which frees it), except for a small chunk, which is copied.
func (c *OutChunk) marshal() (mem.BufferSlice, error) {
	var b, data []byte
	if c.bp != nil {
		b = *c.bp
		data = b[chunkHeadroom : chunkHeadroom+c.n]
	} else {
		c.n = 0 // an empty chunk (a FetchBatch item's empty last one)
	}
	var h [chunkHeadroom]byte
	hdr, ok := c.header(h[:0])
	if !ok || c.n < copyBelow {
		out := make([]byte, 0, len(hdr)+c.n+len(c.UID)+16)
		var err error
		if ok {
			out = append(append(out, hdr...), data...)
		} else {
			out, err = c.appendCopy(out, data)
		}
		c.Release()
		if err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(out)}, nil
	}
	start := chunkHeadroom - len(hdr)
	copy(b[start:chunkHeadroom], hdr)
	*c.bp = b[:chunkHeadroom+c.n]
	root := mem.NewBuffer(c.bp, sendPool{})
	c.bp = nil
	skip, msg := mem.SplitUnsafe(root, start)
	skip.Free()
	return mem.BufferSlice{msg}, nil
}

// header appends the protobuf encoding of c up to its data's octets, in
// the order tags, uid, last, data (fields may come in any order); false if
// it does not fit in chunkHeadroom.
func (c *OutChunk) header(h []byte) ([]byte, bool) {
	n := uint64(c.n)
	if !c.Batch {
		h = protowire.AppendTag(h, 1, protowire.BytesType) // Chunk.data
		return protowire.AppendVarint(h, n), true
	}
	if len(c.UID) > chunkHeadroom-32 {
		return h, false
	}
	inner := 0
	if c.UID != "" {
		inner += 1 + protowire.SizeBytes(len(c.UID))
	}
	if c.Last {
		inner += 2
	}
	if c.n > 0 {
		inner += 1 + protowire.SizeBytes(c.n)
	}
	h = protowire.AppendTag(h, 1, protowire.BytesType) // FetchBatchResponse.chunk
	h = protowire.AppendVarint(h, uint64(inner))
	if c.UID != "" {
		h = protowire.AppendTag(h, 1, protowire.BytesType) // FetchBatchChunk.uid
		h = protowire.AppendString(h, c.UID)
	}
	if c.Last {
		h = protowire.AppendTag(h, 3, protowire.VarintType) // FetchBatchChunk.last
		h = protowire.AppendVarint(h, 1)
	}
	if c.n > 0 {
		h = protowire.AppendTag(h, 2, protowire.BytesType) // FetchBatchChunk.data
		h = protowire.AppendVarint(h, n)
	}
	return h, true
}

// appendCopy appends the encoding of c with data copied, for a header
// that does not fit in chunkHeadroom.
func (c *OutChunk) appendCopy(out, data []byte) ([]byte, error) {
	m := &storev1.FetchBatchResponse{Part: &storev1.FetchBatchResponse_Chunk{Chunk: &storev1.FetchBatchChunk{
		Uid: c.UID, Data: data, Last: c.Last,
	}}}
	return proto.MarshalOptions{}.MarshalAppend(out, m)
}
