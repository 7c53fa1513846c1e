package server

import "testing"

// TestBufferPool checks lengths and capacity classes, that a large buffer put
// back is the one handed out next (warm memory, kept across collections), that
// idle large buffers are bounded in number, and that buffers of no class are
// not kept.
func TestBufferPool(t *testing.T) {
	p := newBufferPool()
	for _, c := range []struct{ n, wantCap int }{
		{0, 1}, {1, 1}, {3, 4}, {4096, 4096}, {4097, 8192},
		{1 << 20, 1 << 20}, {1<<20 + 6, 2 << 20}, {1<<maxShift + 1, 1<<maxShift + 1},
	} {
		b := p.Get(c.n)
		if len(*b) != c.n || cap(*b) != c.wantCap {
			t.Errorf("Get(%d): len %d cap %d, want len %d cap %d", c.n, len(*b), cap(*b), c.n, c.wantCap)
		}
		p.Put(b)
	}
	b := p.Get(1<<20 + 6)
	(*b)[0] = 42
	p.Put(b)
	if again := p.Get(1<<20 + 100); &(*again)[:1][0] != &(*b)[:1][0] || len(*again) != 1<<20+100 {
		t.Error("a large buffer put back was not reused")
	}
	for range largeKept + 3 {
		b := make([]byte, 1<<20)
		p.Put(&b)
	}
	if n := len(p.large[20]); n != largeKept {
		t.Errorf("%d idle buffers of 1 MiB kept, want the bound %d", n, largeKept)
	}
	odd := make([]byte, 3<<16)
	p.Put(&odd)
	if got := p.Get(3 << 16); cap(*got) != 1<<18 {
		t.Errorf("Get after Put of a foreign buffer: cap %d, want %d", cap(*got), 1<<18)
	}
}
