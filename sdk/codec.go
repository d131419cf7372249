package sdk

import (
	"fmt"

	"github.com/izyware/izypop3/sdk/internal/storev1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the "proto" codec chunkCodec delegates to
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

// chunkCodec is the gRPC codec of the host's Fetch streams. It is the
// standard proto codec, except that a Chunk is decoded into the Data slice it
// already holds: a chunkReader receives every chunk of a message into one
// buffer instead of allocating 256 KiB per chunk (which made the host's
// garbage, and so its memory, grow with the bytes streamed).
type chunkCodec struct{ std encoding.CodecV2 }

func (c chunkCodec) Name() string { return c.std.Name() } // "proto": same wire content-type

func (c chunkCodec) Marshal(v any) (mem.BufferSlice, error) { return c.std.Marshal(v) }

func (c chunkCodec) Unmarshal(data mem.BufferSlice, v any) error {
	ch, ok := v.(*storev1.Chunk)
	if !ok {
		return c.std.Unmarshal(data, v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	return unmarshalChunk(buf.ReadOnlyData(), ch)
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

// fetchCallOption makes a Fetch stream use chunkCodec.
var fetchCallOption = grpc.ForceCodecV2(chunkCodec{std: encoding.GetCodecV2("proto")})
