package storehost

import (
	"context"
	"errors"
	"io"
	"path"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// Observer receives what a Host does, for metrics. Its methods must be safe
// for concurrent use and return quickly.
type Observer interface {
	// StoreCall reports one call of the store protocol, as sent to the
	// plugin: method is the RPC name ("List", "Fetch", "Put", ...), d the
	// time until its last message (a stream's end), code "OK" or the
	// gRPC status code's name ("NotFound", "Unavailable", ...).
	StoreCall(store, method string, d time.Duration, code string)
	// PluginRestart reports a start of a fresh plugin process after the
	// first one died: err nil when it started, else why it did not.
	PluginRestart(store string, err error)
}

type nopObserver struct{}

func (nopObserver) StoreCall(string, string, time.Duration, string) {}
func (nopObserver) PluginRestart(string, error)                     {}

// observeDialOptions are gRPC interceptors that report every call to obs.
func observeDialOptions(store string, obs Observer) []grpc.DialOption {
	unary := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		start := time.Now()
		err := invoker(ctx, method, req, reply, cc, opts...)
		obs.StoreCall(store, path.Base(method), time.Since(start), status.Code(err).String())
		return err
	}
	stream := func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		start := time.Now()
		cs, err := streamer(ctx, desc, cc, method, opts...)
		if err != nil {
			obs.StoreCall(store, path.Base(method), time.Since(start), status.Code(err).String())
			return nil, err
		}
		return &observedStream{ClientStream: cs, report: func(err error) {
			obs.StoreCall(store, path.Base(method), time.Since(start), status.Code(err).String())
		}, oneReply: !desc.ServerStreams}, nil
	}
	return []grpc.DialOption{grpc.WithChainUnaryInterceptor(unary), grpc.WithChainStreamInterceptor(stream)}
}

// observedStream reports its call once, when it ends: at the error that
// ends a server stream (io.EOF is success), or at the reply of a client
// stream. A stream its reader abandons before the end is not reported.
type observedStream struct {
	grpc.ClientStream
	report   func(error)
	oneReply bool
	done     bool // reported; only RecvMsg's goroutine touches it
}

func (s *observedStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if !s.done && (err != nil || s.oneReply) {
		s.done = true
		if errors.Is(err, io.EOF) {
			s.report(nil)
		} else {
			s.report(err)
		}
	}
	return err
}
