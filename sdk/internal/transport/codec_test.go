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
		for _, got := range []*storev1.FetchBatchResponse{&reused, joined(&bm)} {
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
			if got := joined(&bm); !proto.Equal(got, want) {
				t.Fatalf("in place: decoded %v, want %v", got, want)
			}
			// In HTTP/2 frames of up to 7 octets: headers cut anywhere.
			if err := codec.Unmarshal(frames(wire, 7), &bm); err != nil {
				t.Fatalf("in frames: %v", err)
			}
			if got := joined(&bm); !proto.Equal(got, want) {
				t.Fatalf("in frames: decoded %v, want %v", got, want)
			}
			if got := joined(&bm); !proto.Equal(got, want) {
				t.Fatalf("in place: decoded %v, want %v", got, want)
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

// joined is bm's response with its chunk data in one slice, for comparing.
func joined(bm *BatchMsg) *storev1.FetchBatchResponse {
	got := proto.Clone(&bm.Resp).(*storev1.FetchBatchResponse)
	if c := got.GetChunk(); c != nil {
		c.Data = bytes.Join(bm.Data(), nil)
	}
	return got
}

// frames cuts wire into buffers of at most size octets, as the HTTP/2
// frames a message arrives in.
func frames(wire []byte, size int) mem.BufferSlice {
	var bs mem.BufferSlice
	for w := bytes.Clone(wire); len(w) > 0; w = w[min(size, len(w)):] {
		bs = append(bs, mem.SliceBuffer(w[:min(size, len(w))]))
	}
	return bs
}

// countPool counts the buffers given back to it.
type countPool struct{ puts int }

func (p *countPool) Get(n int) *[]byte { b := make([]byte, n); return &b }
func (p *countPool) Put(*[]byte)       { p.puts++ }

// A chunk that arrives in several frames is decoded where it lies: its
// data is slices of the received buffers, held until the next message is
// received, and then given back. Both the sdk's header-first layout and
// proto's (last after the data) are.
func TestFetchBatchSegments(t *testing.T) {
	codec := chunkCodec{std: encoding.GetCodecV2("proto")}
	data := pattern(20_000)
	var sdkLayout OutChunk
	sdkLayout.Batch, sdkLayout.UID, sdkLayout.Last = true, "uid-1", true
	copy(sdkLayout.Buf(), data)
	sdkLayout.SetLen(len(data))
	bs, err := sdkLayout.marshal()
	if err != nil {
		t.Fatal(err)
	}
	sdkWire := bs.Materialize()
	bs.Free()
	protoWire, err := proto.Marshal(&storev1.FetchBatchResponse{Part: &storev1.FetchBatchResponse_Chunk{
		Chunk: &storev1.FetchBatchChunk{Uid: "uid-1", Data: data, Last: true}}})
	if err != nil {
		t.Fatal(err)
	}
	for name, wire := range map[string][]byte{"sdk": sdkWire, "proto": protoWire} {
		pool := &countPool{}
		var in mem.BufferSlice
		for w := wire; len(w) > 0; w = w[min(16384, len(w)):] {
			b := pool.Get(min(16384, len(w)))
			copy(*b, w)
			in = append(in, mem.NewBuffer(b, pool))
		}
		var bm BatchMsg
		if err := codec.Unmarshal(in, &bm); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		in.Free() // as gRPC does after Unmarshal
		if !bm.segmented {
			t.Fatalf("%s: decoded through a joined copy", name)
		}
		c := bm.Resp.GetChunk()
		if c.GetUid() != "uid-1" || !c.GetLast() || !bytes.Equal(bytes.Join(bm.Data(), nil), data) {
			t.Fatalf("%s: decoded uid %q last %v, %d octets", name, c.GetUid(), c.GetLast(), len(bytes.Join(bm.Data(), nil)))
		}
		if len(bm.Data()) != 2 {
			t.Errorf("%s: data in %d slices, want 2", name, len(bm.Data()))
		}
		if pool.puts != 0 {
			t.Fatalf("%s: %d buffers given back while the data is in use", name, pool.puts)
		}
		bm.Release()
		if pool.puts != len(in) {
			t.Errorf("%s: %d of %d buffers given back after Release", name, pool.puts, len(in))
		}
	}
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

// BenchmarkBatchChunk20KB decodes the FetchBatch chunk of a 20 KB message
// as it arrives (two HTTP/2 frames) and reads its data out, the way the
// batch reader does: in place (segments) or through one joined copy.
func BenchmarkBatchChunk20KB(b *testing.B) {
	wire, err := proto.Marshal(&storev1.FetchBatchResponse{Part: &storev1.FetchBatchResponse_Chunk{
		Chunk: &storev1.FetchBatchChunk{Uid: "1700000000.M1P1.bench,S=20000:2,", Data: pattern(20_000), Last: true}}})
	if err != nil {
		b.Fatal(err)
	}
	out := make([]byte, 64<<10)
	pool := mem.DefaultBufferPool()
	in := func() mem.BufferSlice {
		var bs mem.BufferSlice
		for w := wire; len(w) > 0; w = w[min(16384, len(w)):] {
			bs = append(bs, mem.Copy(w[:min(16384, len(w))], pool))
		}
		return bs
	}
	for _, mode := range []string{"segments", "joined"} {
		b.Run(mode, func(b *testing.B) {
			var bm BatchMsg
			defer bm.Release()
			b.SetBytes(int64(len(wire)))
			b.ReportAllocs()
			for b.Loop() {
				data := in()
				bm.Release()
				if mode == "segments" {
					if !bm.decodeSegments(data) {
						b.Fatal("not decoded in place")
					}
				} else {
					buf := data.MaterializeToBuffer(pool)
					if err := unmarshalFetchBatchResponse(buf.ReadOnlyData(), &bm.Resp, true); err != nil {
						b.Fatal(err)
					}
					bm.buf = buf
				}
				data.Free()
				n := 0
				for _, s := range bm.Data() {
					n += copy(out[n:], s)
				}
				if n != 20_000 {
					b.Fatalf("%d octets", n)
				}
			}
		})
	}
}
