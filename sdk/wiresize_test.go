package sdk

import (
	"math/rand/v2"
	"testing"
)

// refWireSize is the rule of WireSizeOf, one octet at a time.
func refWireSize(msg []byte) int64 {
	var n int64
	lastCR, atStart := false, true
	for _, b := range msg {
		switch b {
		case '\r':
			n += 2
			lastCR, atStart = true, true
			continue
		case '\n':
			if !lastCR {
				n += 2
			}
			atStart = true
		default:
			n++
			atStart = false
		}
		lastCR = false
	}
	if len(msg) > 0 && !atStart {
		n += 2
	}
	return n
}

// WireCounter gives the rule's figure for any content written in pieces
// of any size (the pieces may split a CRLF).
func TestWireCounterPieces(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("ab.\r\n\r\n")
	for i := range 3000 {
		msg := make([]byte, rng.IntN(300))
		for j := range msg {
			msg[j] = alphabet[rng.IntN(len(alphabet))]
		}
		if i%3 == 0 {
			for j := range msg { // mostly CRLF text, as mail is
				if msg[j] == '\r' && j+1 < len(msg) {
					msg[j+1] = '\n'
				}
			}
		}
		var c WireCounter
		for rest := msg; len(rest) > 0; {
			k := min(len(rest), 1+rng.IntN(8))
			c.Write(rest[:k])
			rest = rest[k:]
		}
		c.Write(nil)
		if got, want := c.Size(), refWireSize(msg); got != want {
			t.Fatalf("%q: WireCounter %d, want %d", msg, got, want)
		}
	}
}

func BenchmarkWireCounter20KB(b *testing.B) {
	line := []byte("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tem\r\n")
	var msg []byte
	for len(msg) < 20000 {
		msg = append(msg, line...)
	}
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		var c WireCounter
		c.Write(msg)
	}
}
