package sdk

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/izyware/izypop3/sdk/internal/storev1"
	"github.com/izyware/izypop3/sdk/internal/transport"
)

// Version is the version of this sdk; a plugin reports the one it was built
// with.
const Version = "0.1.0"

// EnvLogLevel names the environment variable that sets the level of
// NewLogger: trace, debug, info, warn or error (default info). izypop3
// passes its environment on to the plugins it starts.
const EnvLogLevel = "IZYPOP3_PLUGIN_LOG_LEVEL"

// storePlugin is the go-plugin glue on the plugin side: it registers the
// store's gRPC service.
type storePlugin struct {
	plugin.NetRPCUnsupportedPlugin
	server *grpcServer
}

func (p *storePlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	storev1.RegisterStoreServer(s, p.server)
	return nil
}

var _ plugin.GRPCPlugin = (*storePlugin)(nil)

func (p *storePlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("sdk: the store plugin has no client side here: hosts use sdk/pluginhost")
}

// ServeOption configures Serve.
type ServeOption func(*serveConfig)

type serveConfig struct {
	info   transport.Info
	logger *slog.Logger
}

// WithName sets the store name reported to the host. Default: the binary's
// name without the "izypop3-store-" prefix.
func WithName(name string) ServeOption { return func(c *serveConfig) { c.info.Name = name } }

// WithVersion sets the store's own version reported to the host. Default
// "dev".
func WithVersion(v string) ServeOption { return func(c *serveConfig) { c.info.Version = v } }

// WithLogger sets the logger of Serve and of the plugin machinery under it.
// Default: NewLogger(name). Log to stderr only: stdout belongs to the
// handshake.
func WithLogger(l *slog.Logger) ServeOption { return func(c *serveConfig) { c.logger = l } }

// NewLogger returns the logger a store should use: JSON lines on stderr in
// the form izypop3 parses, so that each record lands in izypop3's own log at
// its level. The level is taken from the environment variable EnvLogLevel.
func NewLogger(name string) *slog.Logger {
	return transport.NewPluginLogger(os.Stderr, name, os.Getenv(EnvLogLevel))
}

// binaryPrefix is how every store binary's name starts.
const binaryPrefix = "izypop3-store-"

// Serve runs store as an izypop3 store plugin; call it from the plugin
// binary's main. It returns when the host stops the plugin, after calling
// store's Close if it implements Closer. Nothing is written to stdout but the
// handshake line; logs go to stderr. Run by hand (not by izypop3), the binary
// prints a short notice and exits with status 1. Once no message stream has
// been open for 5 s, the process gives its free memory back to the system.
func Serve(store Store, opts ...ServeOption) {
	transport.ReleaseMemoryWhenIdle()
	cfg := serveConfig{info: transport.Info{Version: "dev"}}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.info.Name == "" {
		cfg.info.Name = defaultName(os.Args[0])
	}
	if cfg.logger == nil {
		cfg.logger = NewLogger(cfg.info.Name)
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: transport.Handshake,
		Plugins:         plugin.PluginSet{transport.PluginName: &storePlugin{server: newGRPCServer(store, cfg.info)}},
		GRPCServer: func(o []grpc.ServerOption) *grpc.Server {
			o = append(o, transport.ServerOptions()...)
			return grpc.NewServer(append(o, callLog(cfg.logger)...)...)
		},
		Logger: transport.HCLog(cfg.logger),
	})
	if c, ok := store.(Closer); ok {
		if err := c.Close(); err != nil {
			cfg.logger.Error("closing store", "error", err)
		}
	}
}

// callLog logs every call the host makes, at debug level (the seed's
// mimestore.verbose, IZYPOP3_PLUGIN_LOG_LEVEL=debug): the method, how long it
// took and the error, never an argument.
func callLog(log *slog.Logger) []grpc.ServerOption {
	logCall := func(ctx context.Context, method string, start time.Time, err error) {
		if !log.Enabled(ctx, slog.LevelDebug) {
			return
		}
		method = method[strings.LastIndexByte(method, '/')+1:]
		if err != nil {
			log.Debug("store call", "method", method, "took", time.Since(start).String(), "error", transport.FromStatus(ctx, err).Error())
			return
		}
		log.Debug("store call", "method", method, "took", time.Since(start).String())
	}
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			start := time.Now()
			resp, err := h(ctx, req)
			logCall(ctx, info.FullMethod, start, err)
			return resp, err
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			start := time.Now()
			err := h(srv, ss)
			logCall(ss.Context(), info.FullMethod, start, err)
			return err
		}),
	}
}

// defaultName is the store name of the binary at path: its base name
// without binaryPrefix.
func defaultName(path string) string {
	name := path
	if i := strings.LastIndexFunc(name, func(r rune) bool { return os.IsPathSeparator(uint8(r)) }); i >= 0 {
		name = name[i+1:]
	}
	if rest, ok := strings.CutPrefix(name, binaryPrefix); ok && rest != "" {
		return rest
	}
	return name
}
