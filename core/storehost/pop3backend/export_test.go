package pop3backend

import (
	"time"

	"github.com/izyware/izypop3/core/pop3/pop3server"
)

// SetReadAheadIdle shortens readAheadIdle for a backend made by New.
func SetReadAheadIdle(b pop3server.Backend, d time.Duration) {
	switch b := b.(type) {
	case *Backend:
		b.raIdle = d
	case apopBackend:
		b.raIdle = d
	}
}
