package sdk

import (
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// idleRelease is how long a plugin serves no message stream before it gives
// its free memory back to the operating system.
//
// The Go runtime returns freed memory lazily: the chunk buffers of streams
// that ended stay in their pools until two garbage collections have run,
// and a collection runs only when the heap grows or every two minutes, so
// after a burst (hundreds of stalled RETRs) a plugin kept hundreds of MB
// resident for minutes with nothing to do. Measured with localfs: 330 MB
// after 100 stalled 50 MiB streams had ended, still 330 MB 35 s later.
const idleRelease = 5 * time.Second

var (
	// releaseIdle is set by Serve: only a plugin process gives its memory
	// back (a host serving a store in process runs its own GC policy).
	releaseIdle atomic.Bool
	// streamsOpen counts the Fetch, FetchTop and FetchBatch streams being
	// served.
	streamsOpen atomic.Int64
	idleTimer   = sync.OnceValue(func() *time.Timer { return time.AfterFunc(time.Hour, releaseMemory) })
)

// streamOpen counts a message stream as served until the function it
// returns is called.
func streamOpen() (closed func()) {
	streamsOpen.Add(1)
	return streamClosed
}

func streamClosed() {
	if streamsOpen.Add(-1) == 0 && releaseIdle.Load() {
		idleTimer().Reset(idleRelease)
	}
}

// releaseMemory runs when no stream has been open for idleRelease (or one
// opened since: then it does nothing, and the last to close arms it again).
// The first collection moves the pooled buffers to the pools' victim
// caches, the one of FreeOSMemory frees them and returns the pages.
func releaseMemory() {
	if streamsOpen.Load() != 0 {
		return
	}
	runtime.GC()
	debug.FreeOSMemory()
}
