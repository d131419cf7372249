package sdk

import (
	"crypto/sha256"
	"io"
	"strings"
	"testing"
)

type fixedDigest struct {
	io.Reader
	sum [32]byte
}

func (f fixedDigest) SHA256() [32]byte { return f.sum }

// A body that is a Digester gives its own digest (what is written is not
// hashed); any other body the hash of what is written.
func TestDigestOf(t *testing.T) {
	const msg = "Subject: x\r\n\r\nbody\r\n"
	d := DigestOf(strings.NewReader(msg))
	io.WriteString(&d, msg[:5])
	io.WriteString(&d, msg[5:])
	if got := d.Sum(); got != sha256.Sum256([]byte(msg)) {
		t.Errorf("plain body: %x", got)
	}
	own := [32]byte{1, 2, 3}
	d = DigestOf(fixedDigest{strings.NewReader(msg), own})
	io.WriteString(&d, msg)
	if got := d.Sum(); got != own {
		t.Errorf("Digester body: %x, want its own digest", got)
	}
}
