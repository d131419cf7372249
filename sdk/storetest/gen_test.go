package storetest

import (
	"bytes"
	"io"
	"testing"

	"github.com/izyware/izypop3/sdk"
)

func TestGenDeterministic(t *testing.T) {
	a, _ := io.ReadAll(newGen(42, 100000))
	b, _ := io.ReadAll(io.LimitReader(newGen(42, 100000), 100000))
	c, _ := io.ReadAll(newGen(43, 100000))
	if len(a) != 100000 || !bytes.Equal(a, b) {
		t.Fatalf("same seed gave different streams (len %d)", len(a))
	}
	if bytes.Equal(a, c) {
		t.Fatal("different seeds gave the same stream")
	}
	for _, want := range [][]byte{[]byte("\r\n"), []byte("\n."), {0}, {0xff}} {
		if !bytes.Contains(a, want) {
			t.Errorf("generated stream lacks %q", want)
		}
	}
	// Odd read sizes give the same octets.
	g := newGen(42, 100000)
	var d []byte
	buf := make([]byte, 7)
	for {
		n, err := g.Read(buf)
		d = append(d, buf[:n]...)
		if err == io.EOF {
			break
		}
	}
	if !bytes.Equal(a, d) {
		t.Error("7-octet reads gave other octets")
	}
}

func TestCompareStreams(t *testing.T) {
	a, _ := io.ReadAll(newGen(1, 200000))
	b := bytes.Clone(a)
	if _, err := compareStreams(bytes.NewReader(a), bytes.NewReader(b)); err != nil {
		t.Fatalf("equal streams: %v", err)
	}
	b[150001] ^= 1
	if off, err := compareStreams(bytes.NewReader(a), bytes.NewReader(b)); err == nil || off != 150001 {
		t.Errorf("one flipped octet: offset %d, err %v", off, err)
	}
	if off, err := compareStreams(bytes.NewReader(a[:1000]), bytes.NewReader(a)); err == nil || off != 1000 {
		t.Errorf("short stream: offset %d, err %v", off, err)
	}
	if off, err := compareStreams(bytes.NewReader(a), bytes.NewReader(a[:1000])); err == nil || off != 1000 {
		t.Errorf("long stream: offset %d, err %v", off, err)
	}
}

func BenchmarkGen(b *testing.B) {
	buf := make([]byte, 256<<10)
	b.SetBytes(int64(len(buf)))
	g := newGen(1, 1<<62)
	for b.Loop() {
		g.Read(buf)
	}
}

// sdk.WireCounter, fed in writes of any size, agrees with sdk.WireSizeOf
// on the suite's binary cases and on a generated body.
func TestWireCounter(t *testing.T) {
	for _, bc := range binaryCases {
		body := []byte(bc.body)
		want, _ := sdk.WireSizeOf(bytes.NewReader(body))
		for _, step := range []int{1, 2, 3, 1000} {
			var c sdk.WireCounter
			for i := 0; i < len(body); i += step {
				c.Write(body[i:min(len(body), i+step)])
			}
			if c.Size() != want {
				t.Errorf("%s in %d-octet writes: %d, want %d", bc.name, step, c.Size(), want)
			}
		}
	}
	body, _ := io.ReadAll(newGen(5, 300000))
	want, _ := sdk.WireSizeOf(bytes.NewReader(body))
	var c sdk.WireCounter
	io.CopyBuffer(&c, bytes.NewReader(body), make([]byte, 999))
	if c.Size() != want {
		t.Errorf("generated body: %d, want %d", c.Size(), want)
	}
}
