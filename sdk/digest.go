package sdk

import (
	"crypto/sha256"
	"hash"
	"io"
)

// BodyDigest is the SHA-256 of a message body as it is read: the body's
// own digest when it is a Digester (it is not hashed a second time), else
// the hash of what is written to the BodyDigest. Write it every octet read
// from the body, and take Sum once the body returned io.EOF.
type BodyDigest struct {
	dg Digester
	h  hash.Hash
}

// DigestOf returns the BodyDigest of body.
func DigestOf(body io.Reader) BodyDigest {
	if dg, ok := body.(Digester); ok {
		return BodyDigest{dg: dg}
	}
	return BodyDigest{h: sha256.New()}
}

// Write implements io.Writer; it never fails.
func (d *BodyDigest) Write(p []byte) (int, error) {
	if d.h != nil {
		d.h.Write(p)
	}
	return len(p), nil
}

// Sum returns the SHA-256 of the body.
func (d *BodyDigest) Sum() [32]byte {
	if d.dg != nil {
		return d.dg.SHA256()
	}
	var s [32]byte
	d.h.Sum(s[:0])
	return s
}
