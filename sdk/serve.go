package sdk

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Version is the version of this sdk; a plugin reports the one it was built
// with (Info.SDKVersion).
const Version = "0.1.0"

// ProtocolVersion is the plugin protocol version: the go-plugin protocol
// version that selects proto package izypop3.store.v1. It changes only with
// a new proto package (v2); inside v1 changes are additive.
const ProtocolVersion = 1

// PluginName is the name under which the store is dispensed (for hosts).
const PluginName = "store"

// Handshake is the go-plugin handshake host and plugins must agree on. The
// magic cookie is fixed forever: it only tells a store binary that it was
// started by izypop3 (it is not a security measure). For hosts; store
// authors use Serve.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "IZYPOP3_STORE_PLUGIN",
	MagicCookieValue: "5c0b1e8d9a7f4e36b2d4c1a09f8e7d6c3b2a1f0e9d8c7b6a",
}

// Flow-control windows for the plugin connection. With gRPC's default
// dynamic window a 50 MiB fetch over a unix socket ramps up slowly; a fixed
// window of a few chunks keeps the pipe full while bounding the bytes in
// flight (and so memory) per stream.
const (
	streamWindow = 4 * ChunkSize  // 1 MiB per stream
	connWindow   = 16 * ChunkSize // 4 MiB per connection
	ioBufferSize = ChunkSize      // transport read/write buffers
)

// serverOptions are the gRPC server options for serving a store.
func serverOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		serverCodecOption(),
		grpc.StaticStreamWindowSize(streamWindow),
		grpc.StaticConnWindowSize(connWindow),
		grpc.ReadBufferSize(ioBufferSize),
		grpc.WriteBufferSize(ioBufferSize),
	}
}

// HostDialOptions are the gRPC dial options a host uses to talk to a store
// plugin (matching the plugin's flow-control settings). For hosts.
func HostDialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithStaticStreamWindowSize(streamWindow),
		grpc.WithStaticConnWindowSize(connWindow),
		grpc.WithReadBufferSize(ioBufferSize),
		grpc.WithWriteBufferSize(ioBufferSize),
	}
}

// storePlugin is the go-plugin glue: on the plugin side it registers the
// store's gRPC adapter, on the host side it hands out a *Remote.
type storePlugin struct {
	plugin.NetRPCUnsupportedPlugin
	store Store // plugin side only
	info  Info
}

func (p *storePlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	register(s, p.store, p.info)
	return nil
}

func (p *storePlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return newRemote(c), nil
}

var _ plugin.GRPCPlugin = (*storePlugin)(nil)

// HostPluginSet is the go-plugin plugin set a host passes to
// plugin.ClientConfig.Plugins; dispensing PluginName yields a *Remote.
// For hosts.
func HostPluginSet() plugin.PluginSet {
	return plugin.PluginSet{PluginName: &storePlugin{}}
}

// ServeOption configures Serve.
type ServeOption func(*serveConfig)

type serveConfig struct {
	info   Info
	logger hclog.Logger
}

// WithName sets the store name reported to the host (Info.Name). Default:
// the binary's name without the "izypop3-store-" prefix.
func WithName(name string) ServeOption { return func(c *serveConfig) { c.info.Name = name } }

// WithVersion sets the store's own version (Info.Version). Default "dev".
func WithVersion(v string) ServeOption { return func(c *serveConfig) { c.info.Version = v } }

// WithLogger sets the logger Serve and the plugin machinery log to. Default:
// NewLogger(name). Log to stderr only: stdout belongs to the handshake.
func WithLogger(l hclog.Logger) ServeOption { return func(c *serveConfig) { c.logger = l } }

// NewLogger returns the logger a store should use: JSON lines on stderr,
// which the host parses and forwards into its own log with their levels. The
// level is taken from IZYPOP3_PLUGIN_LOG_LEVEL (trace, debug, info, warn,
// error); default info.
func NewLogger(name string) hclog.Logger {
	level := hclog.LevelFromString(os.Getenv("IZYPOP3_PLUGIN_LOG_LEVEL"))
	if level == hclog.NoLevel {
		level = hclog.Info
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:       name,
		Level:      level,
		Output:     os.Stderr,
		JSONFormat: true,
	})
}

// binaryPrefix is how every store binary's name starts.
const binaryPrefix = "izypop3-store-"

// Serve runs store as an izypop3 store plugin; call it from the plugin
// binary's main. It returns when the host stops the plugin, after calling
// store's Close if it implements Closer. Nothing is written to stdout but the
// go-plugin handshake line; logs go to stderr. Run by hand (not by izypop3),
// the binary prints a short notice and exits with status 1.
func Serve(store Store, opts ...ServeOption) {
	cfg := serveConfig{info: Info{Version: "dev"}}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.info.Name == "" {
		cfg.info.Name = defaultName()
	}
	if cfg.logger == nil {
		cfg.logger = NewLogger(cfg.info.Name)
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         plugin.PluginSet{PluginName: &storePlugin{store: store, info: cfg.info}},
		GRPCServer: func(o []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(o, serverOptions()...)...)
		},
		Logger: cfg.logger,
	})
	if c, ok := store.(Closer); ok {
		if err := c.Close(); err != nil {
			cfg.logger.Error("closing store", "error", err)
		}
	}
}

func defaultName() string {
	name := os.Args[0]
	for i := len(name) - 1; i >= 0; i-- {
		if os.IsPathSeparator(name[i]) {
			name = name[i+1:]
			break
		}
	}
	if len(name) > len(binaryPrefix) && name[:len(binaryPrefix)] == binaryPrefix {
		return name[len(binaryPrefix):]
	}
	return name
}

// inProcessStopTimeout bounds the graceful stop of ServeInProcess's server;
// streams still open after it are cut.
const inProcessStopTimeout = 5 * time.Second

// ServeInProcess serves s over real gRPC on a loopback listener
// (127.0.0.1, an ephemeral port) inside this process and returns a Remote
// connected to it, plus a stop function that closes the connection and the
// server. It is what sdk/storetest uses to run the conformance suite across
// the wire, and what benchmarks compare the plugin process with. The store is
// not closed by stop; the caller owns it. info.Name and info.Version are
// reported by Remote.Info.
func ServeInProcess(s Store, info Info) (*Remote, func() error, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, fmt.Errorf("sdk: in-process listener: %w", err)
	}
	gs := grpc.NewServer(serverOptions()...)
	register(gs, s, info)
	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()

	dial := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, HostDialOptions()...)
	conn, err := grpc.NewClient("passthrough:///"+lis.Addr().String(), dial...)
	if err != nil {
		gs.Stop()
		<-served
		return nil, nil, fmt.Errorf("sdk: in-process client: %w", err)
	}
	var (
		once    sync.Once
		stopErr error
	)
	stop := func() error {
		once.Do(func() { stopErr = stopInProcess(conn, gs, served) })
		return stopErr
	}
	return newRemote(conn), stop, nil
}

func stopInProcess(conn *grpc.ClientConn, gs *grpc.Server, served <-chan error) error {
	cerr := conn.Close()
	done := make(chan struct{})
	go func() { gs.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(inProcessStopTimeout):
		gs.Stop()
		<-done
	}
	if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return cerr
}
