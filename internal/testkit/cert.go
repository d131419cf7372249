package testkit

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"testing"
	"time"
)

// Cert is a fresh self-signed TLS server certificate (ECDSA P-256), valid
// for a day from an hour ago, for 127.0.0.1, "localhost" and "pop.test".
// It is its own CA, so that peers given it as their trust anchor (curl,
// mpop, fetchmail, Python) accept it as well as Go clients do.
type Cert struct {
	DER []byte // the certificate
	Key *ecdsa.PrivateKey
}

// NewCert makes a Cert with the given subject common name.
func NewCert(tb testing.TB, commonName string) *Cert {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost", "pop.test"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	return &Cert{DER: der, Key: key}
}

// ServerConfig returns a server configuration presenting the certificate.
func (c *Cert) ServerConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{c.DER}, PrivateKey: c.Key}}}
}

// ClientConfig returns a client configuration trusting only the
// certificate, checking serverName ("" checks the address dialled).
func (c *Cert) ClientConfig(serverName string) *tls.Config {
	cert, err := x509.ParseCertificate(c.DER)
	if err != nil {
		panic(err) // DER came from x509.CreateCertificate
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{RootCAs: pool, ServerName: serverName}
}

// SHA256 returns the SHA-256 of the certificate (its fingerprint).
func (c *Cert) SHA256() [32]byte { return sha256.Sum256(c.DER) }

// WriteFiles writes the certificate (mode 0644, for a server that reads it
// after dropping privileges) and its key (0600) as PEM files.
func (c *Cert) WriteFiles(tb testing.TB, certPath, keyPath string) {
	tb.Helper()
	kder, err := x509.MarshalECPrivateKey(c.Key)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.DER}), 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		tb.Fatal(err)
	}
}

// TLSConfigs makes a fresh Cert and returns its ServerConfig and its
// ClientConfig(serverName): a server and a client that trust each other.
func TLSConfigs(tb testing.TB, serverName string) (server, client *tls.Config) {
	tb.Helper()
	c := NewCert(tb, "izypop3 test")
	return c.ServerConfig(), c.ClientConfig(serverName)
}
