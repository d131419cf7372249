// Package pluginhost is the host's face of the izypop3 store boundary: what
// a program that runs store plugins needs, where package sdk is what a store
// author needs. It holds the go-plugin handshake and plugin set, the gRPC
// dial options matching the plugin's, the client of the protocol ([Remote]),
// the FetchBatch read-ahead and PutBatch interfaces, [Narrow], which turns
// a client into a value whose type assertions tell the plugin's capabilities,
// and [ServeInProcess], which serves a store over real gRPC inside the
// calling process (for tests and benchmarks).
//
// It is public so that other hosts can load izypop3 store plugins; izypop3
// itself uses it in core/storehost, which adds discovery, restarts and the
// exclusive maildrop lock on top. Its API names go-plugin, gRPC and hclog
// types where go-plugin needs them; package sdk names none.
package pluginhost

import (
	"context"
	"log/slog"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/internal/transport"
)

// ProtocolVersion is the plugin protocol version: the go-plugin protocol
// version that selects proto package izypop3.store.v1. It changes only with
// a new proto package (v2); inside v1 changes are additive.
const ProtocolVersion = transport.ProtocolVersion

// PluginName is the name under which the store is dispensed.
const PluginName = transport.PluginName

// Handshake is the go-plugin handshake hosts and plugins agree on. The magic
// cookie is fixed forever: it only tells a store binary that it was started
// by a host (it is not a security measure).
var Handshake = transport.Handshake

// ChunkSize is the size of the data chunks Fetch, FetchTop, FetchBatch and
// Put send across the plugin boundary (256 KiB).
const ChunkSize = transport.ChunkSize

// PluginSet is the go-plugin plugin set a host passes to
// plugin.ClientConfig.Plugins; dispensing PluginName yields a *Remote.
func PluginSet() plugin.PluginSet {
	return plugin.PluginSet{PluginName: &hostPlugin{}}
}

// hostPlugin is the host side of the go-plugin glue: it hands out a *Remote.
type hostPlugin struct {
	plugin.NetRPCUnsupportedPlugin
}

func (p *hostPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errHostOnly
}

func (p *hostPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return NewRemote(c), nil
}

var _ plugin.GRPCPlugin = (*hostPlugin)(nil)

// ReleaseMemoryWhenIdle makes the host process run a garbage collection and
// give its free memory back to the system once no message stream (Fetch,
// FetchTop, FetchBatch of any Remote, or served by ServeInProcess) has been
// open for 5 s. The Go runtime does it lazily, minutes later: a server
// whose clients stalled hundreds of RETRs kept their buffers' memory long
// after they left. A store plugin does it always (sdk.Serve).
func ReleaseMemoryWhenIdle() { transport.ReleaseMemoryWhenIdle() }

// DialOptions are the gRPC dial options of a host (plugin.ClientConfig's
// GRPCDialOptions), matching the flow-control settings the plugin serves
// with.
func DialOptions() []grpc.DialOption { return transport.DialOptions() }

// HCLog returns an hclog.Logger (what plugin.ClientConfig.Logger takes)
// writing to l, for a host that logs with log/slog: go-plugin's own records
// and the log lines of the plugin, at their levels (trace is
// LevelTrace). Names given with Named become a "module" attribute.
func HCLog(l *slog.Logger) hclog.Logger { return transport.HCLog(l) }

// LevelTrace is the slog level of go-plugin's and the plugins' trace
// records, below slog.LevelDebug.
const LevelTrace = transport.LevelTrace

// Info describes a store plugin, as it reports itself.
type Info struct {
	Name         string   // e.g. "fake"
	Version      string   // the store's own version
	SDKVersion   string   // the sdk version it was built with
	Capabilities []string // Cap* names of what it implements beyond sdk.Store
	// ConfigKeys are the keys its Configure accepts, when it describes them
	// (sdk.ConfigDescriber); nil when it does not.
	ConfigKeys []sdk.ConfigKey
}

// Capability names, as a plugin advertises them in Info.Capabilities: one
// per optional sdk interface its store implements, and CapBatchFetcher and
// CapBatchPutter, which every plugin whose sdk serves FetchBatch and
// PutBatch lists.
const (
	CapConfigurer    = transport.CapConfigurer
	CapAuthenticator = transport.CapAuthenticator
	CapTopFetcher    = transport.CapTopFetcher
	CapLocker        = transport.CapLocker
	CapChecker       = transport.CapChecker
	CapSyncer        = transport.CapSyncer
	CapCloser        = transport.CapCloser
	CapBatchFetcher  = transport.CapBatchFetcher
	CapBatchPutter   = transport.CapBatchPutter
)
