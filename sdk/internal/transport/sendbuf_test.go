package transport

import (
	"bytes"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/izyware/izypop3/sdk/internal/storev1"
)

// TestOutChunkWire: an OutChunk encodes as the Chunk or FetchBatchResponse
// it stands for, whichever path it takes (its buffer handed on, copied for
// a small chunk, copied for a uid too long for the headroom), and every
// buffer comes back to the send budget once gRPC would have freed it.
func TestOutChunkWire(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), ChunkSize/16)
	cases := []struct {
		name  string
		batch bool
		uid   string
		last  bool
		n     int
	}{
		{"chunk full", false, "", false, ChunkSize},
		{"chunk small", false, "", false, 100},
		{"chunk 64 KiB", false, "", false, 64 << 10},
		{"batch first", true, "u1", false, ChunkSize},
		{"batch middle", true, "", false, ChunkSize},
		{"batch last", true, "", true, 5000},
		{"batch whole small", true, "u2", true, 10},
		{"batch empty last", true, "", true, 0},
		{"batch long uid", true, strings.Repeat("x", 300), true, ChunkSize},
	}
	base := SendBuffersInUse()
	for _, c := range cases {
		oc := OutChunk{Batch: c.batch, UID: c.uid, Last: c.last}
		if c.n > 0 || !c.batch {
			copy(oc.Buf(), data[:c.n])
			oc.SetLen(c.n)
		}
		bs, err := oc.marshal()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got := bs.Materialize()
		bs.Free()
		var want []byte
		if c.batch {
			want, err = proto.Marshal(&storev1.FetchBatchResponse{Part: &storev1.FetchBatchResponse_Chunk{
				Chunk: &storev1.FetchBatchChunk{Uid: c.uid, Data: data[:c.n], Last: c.last}}})
			var m storev1.FetchBatchResponse
			if err := proto.Unmarshal(got, &m); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			ch := m.GetChunk()
			if ch.GetUid() != c.uid || ch.GetLast() != c.last || !bytes.Equal(ch.GetData(), data[:c.n]) {
				t.Errorf("%s: decoded uid %q last %v %d octets", c.name, ch.GetUid(), ch.GetLast(), len(ch.GetData()))
			}
		} else {
			want, err = proto.Marshal(&storev1.Chunk{Data: data[:c.n]})
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d octets on the wire, proto makes %d", c.name, len(got), len(want))
		}
		if !c.batch && !bytes.Equal(got, want) {
			t.Errorf("%s: wire form differs from proto's", c.name)
		}
		oc.Release()
		if n := SendBuffersInUse(); n != base {
			t.Errorf("%s: %d send buffers out after the free, want %d", c.name, n, base)
		}
	}
}

// TestSendMemoryBudget: beyond SendMemory a chunk gets a small buffer, and
// the big ones come back when given back.
func TestSendMemoryBudget(t *testing.T) {
	base := SendBuffersInUse()
	var held []*OutChunk
	for range SendMemory/ChunkSize - base {
		c := &OutChunk{}
		if n := len(c.Buf()); n != ChunkSize {
			t.Fatalf("buffer of %d octets within the budget, want %d", n, ChunkSize)
		}
		held = append(held, c)
	}
	var over OutChunk
	if n := len(over.Buf()); n != smallChunkSize {
		t.Errorf("buffer of %d octets beyond the budget, want %d", n, smallChunkSize)
	}
	over.Release()
	for _, c := range held {
		c.Release()
	}
	if n := SendBuffersInUse(); n != base {
		t.Errorf("%d send buffers out, want %d", n, base)
	}
	var again OutChunk
	if n := len(again.Buf()); n != ChunkSize {
		t.Errorf("buffer of %d octets once given back, want %d", n, ChunkSize)
	}
	again.Release()
}
