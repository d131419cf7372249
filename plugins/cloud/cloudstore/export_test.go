package cloudstore

import "time"

// SetJournalStale sets the age after which journals are completed.
func SetJournalStale(d time.Duration) func() {
	old := journalStale
	journalStale = d
	return func() { journalStale = old }
}

// AbandonLocks stops refreshing every lock without deleting it, as a
// killed process would.
func (s *Store) AbandonLocks() {
	s.mu.Lock()
	locks := s.locks
	s.locks = map[string]*heldLock{}
	s.mu.Unlock()
	for _, l := range locks {
		l.stop()
	}
}

// UIDOf is uidOf.
var UIDOf = uidOf
