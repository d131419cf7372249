// Package transport is the plumbing both faces of the store boundary share:
// the go-plugin handshake, the gRPC options, the chunk codec, the status
// mapping of the sentinel errors and the logger adapter for go-plugin.
//
// Package sdk (the store author's face, which serves a store) and package
// sdk/pluginhost (the host's face, which talks to one) both import it; it
// imports neither, so the one piece that needs the store contract's types,
// the gRPC service of a store, reaches pluginhost through NewStoreServer.
package transport

import (
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/experimental"

	"github.com/izyware/izypop3/sdk/internal/storev1"
)

// ProtocolVersion is the plugin protocol version: the go-plugin protocol
// version that selects proto package izypop3.store.v1.
const ProtocolVersion = 1

// PluginName is the name under which the store is dispensed.
const PluginName = "store"

// Handshake is the go-plugin handshake host and plugins must agree on.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "IZYPOP3_STORE_PLUGIN",
	MagicCookieValue: "5c0b1e8d9a7f4e36b2d4c1a09f8e7d6c3b2a1f0e9d8c7b6a",
}

// ChunkSize is the size of the data chunks Fetch, FetchTop, FetchBatch and
// Put send across the plugin boundary. gRPC refuses messages over 4 MiB by
// default, so a message is always many chunks; 256 KiB is where throughput
// stops improving on a 2-core machine (32 KiB chunks are about 3x slower).
const ChunkSize = 256 << 10

// Flow-control windows for the plugin connection. With gRPC's default
// dynamic window a 50 MiB fetch over a unix socket ramps up slowly; a fixed
// window of a few chunks keeps the pipe full while bounding the bytes in
// flight (and so memory) per stream.
const (
	streamWindow = 4 * ChunkSize  // 1 MiB per stream
	connWindow   = 16 * ChunkSize // 4 MiB per connection
	ioBufferSize = ChunkSize      // transport read/write buffers
)

// ServerOptions are the gRPC server options for serving a store.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		serverCodecOption(),
		grpc.StaticStreamWindowSize(streamWindow),
		grpc.StaticConnWindowSize(connWindow),
		grpc.ReadBufferSize(ioBufferSize),
		grpc.WriteBufferSize(ioBufferSize),
		experimental.BufferPool(bufferPool),
	}
}

// DialOptions are the gRPC dial options of a host (matching the plugin's
// flow-control settings).
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithStaticStreamWindowSize(streamWindow),
		grpc.WithStaticConnWindowSize(connWindow),
		grpc.WithReadBufferSize(ioBufferSize),
		grpc.WithWriteBufferSize(ioBufferSize),
		experimental.WithBufferPool(bufferPool),
	}
}

// Capability names, as advertised in GetInfo.
const (
	CapConfigurer    = "configurer"
	CapAuthenticator = "authenticator"
	CapTopFetcher    = "topfetcher"
	CapLocker        = "locker"
	CapChecker       = "checker"
	CapSyncer        = "syncer"
	CapCloser        = "closer"
	// CapBatchFetcher is advertised by every plugin whose sdk serves
	// FetchBatch (on top of the store's Fetch); a plugin built before the
	// RPC does not list it.
	CapBatchFetcher = "batchfetcher"
	// CapBatchPutter is advertised by every plugin whose sdk serves
	// PutBatch (on top of the store's Put); a plugin built before the RPC
	// does not list it.
	CapBatchPutter = "batchputter"
)

// Info is what GetInfo reports.
type Info struct {
	Name         string
	Version      string
	SDKVersion   string
	Capabilities []string
}

// NewStoreServer returns the gRPC service of store (an sdk.Store) as served
// by the sdk, with info's SDKVersion and Capabilities filled in. Package sdk
// sets it in its init; package sdk/pluginhost, which imports sdk, uses it to
// serve a store inside the host's process.
var NewStoreServer func(store any, info Info) storev1.StoreServer

// ListBatchItems is the most items one List stream message carries.
const ListBatchItems = 500
