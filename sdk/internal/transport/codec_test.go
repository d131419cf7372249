package transport

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

func TestFetchBatchCodec(t *testing.T) {
	codec := chunkCodec{std: encoding.GetCodecV2("proto")}
	msgs := []*storev1.FetchBatchResponse{
		{Part: &storev1.FetchBatchResponse_Chunk{Chunk: &storev1.FetchBatchChunk{Uid: "u1", Data: pattern(ChunkSize)}}},
		{Part: &storev1.FetchBatchResponse_Chunk{Chunk: &storev1.FetchBatchChunk{Data: []byte("tail"), Last: true}}},
		{Part: &storev1.FetchBatchResponse_Error{Error: &storev1.FetchBatchError{Uid: "u2", Code: 5, Message: "gone"}}},
		{Part: &storev1.FetchBatchResponse_Chunk{Chunk: &storev1.FetchBatchChunk{Uid: "u3", Last: true}}},
	}
	var reused storev1.FetchBatchResponse
	var bm BatchMsg
	defer bm.Release()
	for i, m := range msgs {
		wire, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		// Unknown fields, at both levels, are skipped.
		wire = protowire.AppendTag(wire, 15, protowire.VarintType)
		wire = protowire.AppendVarint(wire, 1)
		split := func() mem.BufferSlice {
			w := bytes.Clone(wire)
			return mem.BufferSlice{mem.SliceBuffer(w[:len(w)/2]), mem.SliceBuffer(w[len(w)/2:])}
		}
		if err := codec.Unmarshal(split(), &reused); err != nil {
			t.Fatal(err)
		}
		if err := codec.Unmarshal(split(), &bm); err != nil {
			t.Fatal(err)
		}
		for _, got := range []*storev1.FetchBatchResponse{&reused, &bm.Resp} {
			if !proto.Equal(got, m) {
				t.Errorf("message %d: decoded %v, want %v", i, got, m)
			}
		}
	}
	if err := codec.Unmarshal(mem.BufferSlice{mem.SliceBuffer([]byte{0x0a, 0x10, 0x01})}, &bm); err == nil {
		t.Error("truncated message decoded")
	}
}

// FuzzFetchBatchCodec checks the FetchBatch decoder against proto on every
// well-formed message (both the copying and the in-place form), and that
// arbitrary bytes never make it panic.
func FuzzFetchBatchCodec(f *testing.F) {
	f.Add("u1", []byte("data"), true, uint32(0), "", false, []byte{})
	f.Add("", []byte{}, false, uint32(5), "gone", true, []byte{0x0a, 0x02, 0x12, 0x00})
	f.Add("x", pattern(70000), false, uint32(0), "", false, []byte{0xff, 0x01})
	codec := chunkCodec{std: encoding.GetCodecV2("proto")}
	f.Fuzz(func(t *testing.T, uid string, data []byte, last bool, code uint32, msg string, isErr bool, raw []byte) {
		var bm BatchMsg
		defer bm.Release()
		var reused storev1.FetchBatchResponse
		// Arbitrary bytes: an error or a message, never a panic.
		codec.Unmarshal(mem.BufferSlice{mem.SliceBuffer(bytes.Clone(raw))}, &bm)
		codec.Unmarshal(mem.BufferSlice{mem.SliceBuffer(bytes.Clone(raw))}, &reused)

		want := &storev1.FetchBatchResponse{Part: &storev1.FetchBatchResponse_Chunk{Chunk: &storev1.FetchBatchChunk{Uid: uid, Data: data, Last: last}}}
		if isErr {
			want.Part = &storev1.FetchBatchResponse_Error{Error: &storev1.FetchBatchError{Uid: uid, Code: code, Message: msg}}
		}
		wire, err := proto.Marshal(want)
		if err != nil {
			return // not valid UTF-8: proto refuses to send it
		}
		for _, split := range []int{0, len(wire) / 3, len(wire)} {
			bs := mem.BufferSlice{mem.SliceBuffer(bytes.Clone(wire[:split])), mem.SliceBuffer(bytes.Clone(wire[split:]))}
			if err := codec.Unmarshal(bs, &bm); err != nil {
				t.Fatalf("in place: %v", err)
			}
			if !proto.Equal(&bm.Resp, want) {
				t.Fatalf("in place: decoded %v, want %v", &bm.Resp, want)
			}
			bs = mem.BufferSlice{mem.SliceBuffer(bytes.Clone(wire[:split])), mem.SliceBuffer(bytes.Clone(wire[split:]))}
			if err := codec.Unmarshal(bs, &reused); err != nil {
				t.Fatalf("copying: %v", err)
			}
			if !proto.Equal(&reused, want) {
				t.Fatalf("copying: decoded %v, want %v", &reused, want)
			}
		}
	})
}

// pattern returns n octets of every value, in an order that does not
// repeat for 64 KiB (i*i mod 251 mixed with i/256).
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*i%251) ^ byte(i>>8)
	}
	return b
}
