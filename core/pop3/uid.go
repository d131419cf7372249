package pop3

// MaxUIDLen is the longest unique-id (RFC 1939 §7: 1 to 70 characters).
const MaxUIDLen = 70

// ValidUID reports whether uid may be sent as a unique-id (RFC 1939 §7
// UIDL): 1 to 70 octets, each in 0x21..0x7E. The server checks every UID a
// backend gives before it puts one on the wire.
//
// Stores check their UIDs with sdk.ValidUID, the same rule: package sdk may
// not import core and this package may not import sdk, so each side has its
// own, and core/storehost/pop3backend, which may import both, tests that
// they agree.
func ValidUID(uid string) bool {
	if len(uid) < 1 || len(uid) > MaxUIDLen {
		return false
	}
	for i := 0; i < len(uid); i++ {
		if c := uid[i]; c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}
