package transport

import "testing"

func TestDirtyPool(t *testing.T) {
	p := newDirtyPool(8, 12, 14)
	for _, tt := range []struct{ n, cap int }{{0, 256}, {1, 256}, {256, 256}, {257, 4096}, {4096, 4096}, {5000, 16384}, {16384, 16384}, {16385, 16385}} {
		b := p.Get(tt.n)
		if len(*b) != tt.n || cap(*b) != tt.cap {
			t.Errorf("Get(%d): len %d cap %d, want cap %d", tt.n, len(*b), cap(*b), tt.cap)
		}
		p.Put(b)
	}
	// A kept buffer comes back with the length asked for.
	b := p.Get(4000)
	p.Put(b)
	if c := p.Get(3000); len(*c) != 3000 || cap(*c) != 4096 {
		t.Fatalf("len %d cap %d", len(*c), cap(*c))
	}
	// Foreign buffers are not kept.
	odd := make([]byte, 10, 1000)
	p.Put(&odd)
	if c := p.Get(1000); cap(*c) != 4096 {
		t.Errorf("a foreign buffer of capacity 1000 was handed out: cap %d", cap(*c))
	}
}
