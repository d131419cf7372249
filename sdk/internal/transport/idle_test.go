package transport

import (
	"runtime"
	"testing"
	"time"
)

// held is the memory the Go heap holds from the system: in use, or free
// but not yet returned (what it adds to RSS, without stacks and binary).
func held() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.HeapIdle - m.HeapReleased
}

// TestReleaseMemoryWhenIdle: once the last message stream is closed and
// none opened for idleRelease, the send buffers pooled by the streams go
// back to the system; the runtime alone would keep them until two
// collections had run, minutes later when nothing allocates.
func TestReleaseMemoryWhenIdle(t *testing.T) {
	defer func(d time.Duration) { idleRelease = d }(idleRelease)
	idleRelease = 200 * time.Millisecond
	ReleaseMemoryWhenIdle()
	defer releaseIdle.Store(false)

	runtime.GC()
	base := held()
	closed := StreamOpened()
	chunks := make([]OutChunk, SendMemory/ChunkSize)
	for i := range chunks {
		chunks[i].Buf()
	}
	for i := range chunks {
		chunks[i].Release() // into the pool, as gRPC gives them back
	}
	during := held()
	closed()
	deadline := time.Now().Add(20 * time.Second)
	for held() > base+8<<20 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	after := held()
	t.Logf("heap held: %d MiB idle, %d MiB with the pooled buffers, %d MiB after the release", base>>20, during>>20, after>>20)
	if during < base+SendMemory/2 {
		t.Fatalf("the pooled buffers hold only %d MiB", (during-base)>>20)
	}
	if after > base+8<<20 {
		t.Errorf("heap holds %d MiB 20 s after the last stream closed, %d MiB idle: memory not given back", after>>20, base>>20)
	}
}
