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

func TestPutRequestCodec(t *testing.T) {
	codec := chunkCodec{std: encoding.GetCodecV2("proto")}
	msgs := []*storev1.PutRequest{
		{Part: &storev1.PutRequest_Header{Header: &storev1.PutHeader{Mailbox: "m", Tag: "staged", SourceId: "s", ReceivedUnixNano: 7}}},
		{Part: &storev1.PutRequest_Data{Data: pattern(ChunkSize)}},
		{Part: &storev1.PutRequest_Data{Data: []byte("tail")}},
		{Part: &storev1.PutRequest_Trailer{Trailer: &storev1.PutTrailer{Size: ChunkSize + 4, Sha256: "ab"}}},
		{},
	}
	var got storev1.PutRequest
	spare := &storev1.PutRequest_Data{Data: make([]byte, 0, ChunkSize)}
	for _, want := range msgs {
		wire, err := proto.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		got.Part = spare
		if err := codec.Unmarshal(mem.BufferSlice{mem.SliceBuffer(wire)}, &got); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(&got, want) {
			t.Fatalf("decoded %v, want %v", &got, want)
		}
		if d, ok := got.Part.(*storev1.PutRequest_Data); ok && d != spare {
			t.Error("data part not decoded into the spare")
		}
	}
	if err := unmarshalPutRequest([]byte{0x12, 0x05, 'a'}, &got); err == nil {
		t.Error("truncated data accepted")
	}
}
