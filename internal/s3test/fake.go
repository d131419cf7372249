// Package s3test starts S3 servers for tests and benchmarks: an in-process
// gofakes3 server (real S3 HTTP, any signature accepted) for every go test,
// and a SeaweedFS server (SigV4 checked) when its weed binary is at hand.
package s3test

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Server is an S3 endpoint with one bucket and a key pair that works.
type Server struct {
	Endpoint  string
	Bucket    string
	AccessKey string
	SecretKey string
	// Handler wraps the S3 handler of a fake server; tests swap it to
	// inject failures (nil: pass through).
	wrap *wrapper
}

// Config returns the cloud store's configuration block for the server's
// bucket, under prefix (may be "").
func (s *Server) Config(prefix string) map[string]string {
	t := s.Bucket
	if prefix != "" {
		t += "/" + prefix
	}
	return map[string]string{
		"dataservice": s.Endpoint,
		"tablename":   t,
		"accesstoken": s.AccessKey + ":" + s.SecretKey,
	}
}

// Client returns an S3 client for the server (to look at or plant objects
// behind the store's back).
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint:               aws.String(s.Endpoint),
		Region:                     "us-east-1",
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// wrapper lets a test put a handler in front of the fake server.
type wrapper struct {
	next   http.Handler
	inject func(w http.ResponseWriter, r *http.Request) bool
}

func (w *wrapper) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if f := w.inject; f != nil && f(rw, r) {
		return
	}
	w.next.ServeHTTP(rw, r)
}

// Inject sets a function that sees every request first; when it returns
// true it has answered the request. Fake servers only; nil removes it.
func (s *Server) Inject(f func(w http.ResponseWriter, r *http.Request) bool) {
	s.wrap.inject = f
}

// StartFake starts an in-process gofakes3 server on 127.0.0.1 with one
// bucket; it stops when the test ends.
func StartFake(tb testing.TB) *Server {
	tb.Helper()
	faker := gofakes3.New(s3mem.New(), gofakes3.WithLogger(gofakes3.DiscardLog()))
	w := &wrapper{next: faker.Server()}
	hs := httptest.NewUnstartedServer(w)
	// gofakes3 writes some error statuses twice; net/http's complaint is noise.
	hs.Config.ErrorLog = log.New(io.Discard, "", 0)
	hs.Start()
	tb.Cleanup(hs.Close)
	s := &Server{Endpoint: hs.URL, Bucket: "izypop3-test", AccessKey: "test-key", SecretKey: "test-secret", wrap: w}
	if _, err := s.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(s.Bucket)}); err != nil {
		tb.Fatalf("s3test: create bucket: %v", err)
	}
	return s
}
