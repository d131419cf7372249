package sdk

import (
	"bytes"
	"testing"

	"github.com/izyware/izypop3/sdk/internal/storev1"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

func TestChunkCodec(t *testing.T) {
	codec := chunkCodec{std: encoding.GetCodecV2("proto")}
	var ch storev1.Chunk
	for _, data := range [][]byte{pattern(ChunkSize), []byte("short"), nil, pattern(1000)} {
		wire, err := proto.Marshal(&storev1.Chunk{Data: data})
		if err != nil {
			t.Fatal(err)
		}
		// Split across buffers, as gRPC hands over a message.
		slice := mem.BufferSlice{mem.SliceBuffer(wire[:len(wire)/2]), mem.SliceBuffer(wire[len(wire)/2:])}
		prev := ch.Data
		if err := codec.Unmarshal(slice, &ch); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ch.Data, data) {
			t.Fatalf("decoded %d octets, want %d", len(ch.Data), len(data))
		}
		if cap(prev) >= len(data) && len(data) > 0 && &prev[:1][0] != &ch.Data[:1][0] {
			t.Error("the buffer was not reused")
		}
	}
	// Unknown fields are skipped; a truncated message is an error.
	b := protowire.AppendTag(nil, 7, protowire.VarintType)
	b = protowire.AppendVarint(b, 42)
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendBytes(b, []byte("abc"))
	b = protowire.AppendTag(b, 9, protowire.BytesType)
	b = protowire.AppendBytes(b, []byte("zz"))
	if err := unmarshalChunk(b, &ch); err != nil || string(ch.Data) != "abc" {
		t.Errorf("with unknown fields: %q %v", ch.Data, err)
	}
	if err := unmarshalChunk(b[:len(b)-1], &ch); err == nil {
		t.Error("truncated chunk accepted")
	}
	// Other messages go through the standard codec.
	var info storev1.GetInfoResponse
	wire, _ := proto.Marshal(&storev1.GetInfoResponse{Name: "x"})
	if err := codec.Unmarshal(mem.BufferSlice{mem.SliceBuffer(wire)}, &info); err != nil || info.Name != "x" {
		t.Errorf("GetInfoResponse: %v %v", info.Name, err)
	}
}
