package testkit

import (
	"fmt"
	"os"
	"testing"
)

// PeerMissing ends the test for want of a peer program (Dovecot, curl,
// weed, ...), saying why: a loud skip, in the test log and on stderr so
// that a run without the peer is seen, or a failure where required (not
// "") says what requires the peer, e.g. "CI=true".
func PeerMissing(tb testing.TB, why, required string) {
	tb.Helper()
	msg := "PEER MISSING: " + why
	if required != "" {
		tb.Fatal(msg + " [" + required + ": failing instead of skipping]")
	}
	tb.Log("!!!!!!!!!! " + msg)
	fmt.Fprintln(os.Stderr, "!!!!!!!!!! "+tb.Name()+": "+msg)
	tb.SkipNow()
}
