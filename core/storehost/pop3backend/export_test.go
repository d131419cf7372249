package pop3backend

import "time"

// WithReadAheadIdle returns opts with a read-ahead idle time of d.
func WithReadAheadIdle(opts Options, d time.Duration) Options {
	opts.readAheadIdle = d
	return opts
}
