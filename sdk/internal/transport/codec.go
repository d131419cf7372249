package transport

import (
	"fmt"
	"sync"

	"github.com/izyware/izypop3/sdk/internal/storev1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the "proto" codec chunkCodec delegates to
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// chunkCodec is the gRPC codec of the host's Fetch streams and of the
// plugin's server. It is the standard proto codec, except that a Chunk (and
// the data part of a PutRequest) is decoded into the slice the message
// already holds: a stream's chunks are received into one buffer instead of
// allocating 256 KiB per chunk (which made the garbage, and so the memory and
// the GC's CPU, grow with the bytes streamed).
type chunkCodec struct{ std encoding.CodecV2 }

func (c chunkCodec) Name() string { return c.std.Name() } // "proto": same wire content-type

// Marshal encodes an *OutChunk around its buffer (see OutChunk), anything
// else with proto.
func (c chunkCodec) Marshal(v any) (mem.BufferSlice, error) {
	if oc, ok := v.(*OutChunk); ok {
		return oc.marshal()
	}
	return c.std.Marshal(v)
}

func (c chunkCodec) Unmarshal(data mem.BufferSlice, v any) error {
	switch m := v.(type) {
	case *storev1.Chunk:
		buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
		defer buf.Free()
		return unmarshalChunk(buf.ReadOnlyData(), m)
	case *storev1.PutRequest:
		buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
		defer buf.Free()
		return unmarshalPutRequest(buf.ReadOnlyData(), m)
	case *BatchMsg:
		// The chunk's data stays in the received buffers (no copy): they
		// are released when the next message is received into m.
		m.Release()
		if len(data) > 1 && m.decodeSegments(data) {
			return nil
		}
		buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
		if err := unmarshalFetchBatchResponse(buf.ReadOnlyData(), &m.Resp, true); err != nil {
			buf.Free()
			return err
		}
		m.buf = buf
		return nil
	case *storev1.FetchBatchResponse:
		buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
		defer buf.Free()
		return unmarshalFetchBatchResponse(buf.ReadOnlyData(), m, false)
	}
	return c.std.Unmarshal(data, v)
}

// unmarshalPutRequest decodes a PutRequest; a data part is decoded into the
// *PutRequest_Data that m.Part holds (if it does), reusing its array, so the
// plugin receives a Put's chunks into one buffer. Header and trailer parts go
// through proto.
func unmarshalPutRequest(b []byte, m *storev1.PutRequest) error {
	spare, _ := m.Part.(*storev1.PutRequest_Data)
	m.Part = nil
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("sdk: put request: %w", protowire.ParseError(n))
		}
		b = b[n:]
		if typ != protowire.BytesType || num < 1 || num > 3 {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return fmt.Errorf("sdk: put request field %d: %w", num, protowire.ParseError(n))
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return fmt.Errorf("sdk: put request field %d: %w", num, protowire.ParseError(n))
		}
		b = b[n:]
		switch num {
		case 1:
			h := &storev1.PutHeader{}
			if err := proto.Unmarshal(v, h); err != nil {
				return err
			}
			m.Part = &storev1.PutRequest_Header{Header: h}
		case 2:
			if spare == nil {
				spare = &storev1.PutRequest_Data{}
			}
			spare.Data = append(spare.Data[:0], v...)
			m.Part = spare
		case 3:
			t := &storev1.PutTrailer{}
			if err := proto.Unmarshal(v, t); err != nil {
				return err
			}
			m.Part = &storev1.PutRequest_Trailer{Trailer: t}
		}
	}
	return nil
}

// unmarshalFetchBatchResponse decodes a FetchBatchResponse; a chunk part is
// decoded into the *FetchBatchChunk that m.Part holds (if it does): its data
// is b's own bytes with alias, else copied into the chunk's array, reused.
// Error parts go through proto.
func unmarshalFetchBatchResponse(b []byte, m *storev1.FetchBatchResponse, alias bool) error {
	spare, _ := m.Part.(*storev1.FetchBatchResponse_Chunk)
	m.Part = nil
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("sdk: fetch batch response: %w", protowire.ParseError(n))
		}
		b = b[n:]
		if typ != protowire.BytesType || (num != 1 && num != 2) {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return fmt.Errorf("sdk: fetch batch response field %d: %w", num, protowire.ParseError(n))
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return fmt.Errorf("sdk: fetch batch response field %d: %w", num, protowire.ParseError(n))
		}
		b = b[n:]
		switch num {
		case 1:
			if spare == nil || spare.Chunk == nil {
				spare = &storev1.FetchBatchResponse_Chunk{Chunk: &storev1.FetchBatchChunk{}}
			}
			if err := unmarshalBatchChunk(v, spare.Chunk, alias); err != nil {
				return err
			}
			m.Part = spare
		case 2:
			e := &storev1.FetchBatchError{}
			if err := proto.Unmarshal(v, e); err != nil {
				return err
			}
			m.Part = &storev1.FetchBatchResponse_Error{Error: e}
		}
	}
	return nil
}

// unmarshalBatchChunk decodes a FetchBatchChunk into c: c.Data is a slice
// of b with alias, else a copy into c.Data's array.
func unmarshalBatchChunk(b []byte, c *storev1.FetchBatchChunk, alias bool) error {
	c.Uid, c.Last = "", false
	if alias {
		c.Data = nil
	} else {
		c.Data = c.Data[:0]
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("sdk: fetch batch chunk: %w", protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return fmt.Errorf("sdk: fetch batch chunk uid: %w", protowire.ParseError(n))
			}
			c.Uid = string(v)
			b = b[n:]
		case num == 2 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return fmt.Errorf("sdk: fetch batch chunk data: %w", protowire.ParseError(n))
			}
			if alias {
				c.Data = v
			} else {
				c.Data = append(c.Data[:0], v...)
			}
			b = b[n:]
		case num == 3 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return fmt.Errorf("sdk: fetch batch chunk last: %w", protowire.ParseError(n))
			}
			c.Last = v != 0
			b = b[n:]
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return fmt.Errorf("sdk: fetch batch chunk field %d: %w", num, protowire.ParseError(n))
			}
			b = b[n:]
		}
	}
	return nil
}

// unmarshalChunk decodes the wire form of a Chunk (field 1, bytes data) into
// ch, reusing ch.Data's array. Unknown fields are skipped, as proto does.
func unmarshalChunk(b []byte, ch *storev1.Chunk) error {
	ch.Data = ch.Data[:0]
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("sdk: chunk: %w", protowire.ParseError(n))
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return fmt.Errorf("sdk: chunk data: %w", protowire.ParseError(n))
			}
			ch.Data = append(ch.Data[:0], v...) // proto3: the last one wins
			b = b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return fmt.Errorf("sdk: chunk field %d: %w", num, protowire.ParseError(n))
		}
		b = b[n:]
	}
	return nil
}

// FetchCallOption makes a Fetch, FetchTop or FetchBatch stream use
// chunkCodec (host side).
var FetchCallOption = grpc.ForceCodecV2(chunkCodec{std: encoding.GetCodecV2("proto")})

// serverCodecOption makes the plugin's server use chunkCodec, for Put.
func serverCodecOption() grpc.ServerOption {
	return grpc.ForceServerCodecV2(chunkCodec{std: encoding.GetCodecV2("proto")})
}

// BatchMsg is what a FetchBatch stream is received into (by chunkCodec):
// the response, whose chunk data (Data) lies in the pooled buffers the
// message arrived in. Receiving the next message releases them, so a
// chunk's data is valid until then (the batch reader consumes it before).
type BatchMsg struct {
	Resp storev1.FetchBatchResponse
	buf  mem.Buffer      // the message in one buffer, or
	bufs mem.BufferSlice // the buffers it arrived in, when segmented
	segs [][]byte        // the chunk's data in bufs
	one  [1][]byte       // Data's result for a chunk in buf

	segmented bool // decoded by decodeSegments
}

// Data is the data of a chunk part: the slices of the received buffers
// that hold it, in order (several when the message arrived in several
// HTTP/2 frames). Valid until the next message is received into m.
func (m *BatchMsg) Data() [][]byte {
	if m.segmented {
		return m.segs
	}
	m.one[0] = m.Resp.GetChunk().GetData()
	return m.one[:]
}

// Release frees the buffers the last message arrived in.
func (m *BatchMsg) Release() {
	if m.buf != nil {
		m.buf.Free()
		m.buf = nil
	}
	if m.segmented {
		m.bufs.Free()
		clear(m.bufs) // the arrays are kept, not what they pointed to
		clear(m.segs)
		m.bufs, m.segs, m.segmented = m.bufs[:0], m.segs[:0], false
	}
}

// chunkPool holds ChunkSize buffers, so that serving many small messages
// does not allocate 256 KiB per call.
var chunkPool = sync.Pool{New: func() any { b := make([]byte, ChunkSize); return &b }}

// GetChunk returns a ChunkSize buffer from the pool; give it back with
// PutChunk.
func GetChunk() *[]byte { return chunkPool.Get().(*[]byte) }

// PutChunk returns a buffer of GetChunk to the pool.
func PutChunk(b *[]byte) { chunkPool.Put(b) }
