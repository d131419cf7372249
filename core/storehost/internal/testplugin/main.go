// Command testplugin is the store plugin of the storehost tests: the
// in-memory teststore served with sdk.Serve. Variants are chosen at build
// time with -ldflags "-X main.variant=...":
//
//	""          the store with Configurer, Checker and Locker
//	"plain"     the store without any optional interface
//	"protocol2" a go-plugin server speaking plugin protocol 2 (wrong version)
package main

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"github.com/izyware/izypop3/core/storehost/internal/teststore"
	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/pluginhost"
	"google.golang.org/grpc"
)

// nopPlugin is a go-plugin gRPC plugin that registers no service.
type nopPlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (nopPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error { return nil }

func (nopPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, nil
}

var variant string

func main() {
	switch variant {
	case "plain":
		sdk.Serve(teststore.Plain(teststore.New()), sdk.WithName("plain"), sdk.WithVersion("1.0.0"))
	case "protocol2":
		hs := pluginhost.Handshake
		hs.ProtocolVersion = 2
		plugin.Serve(&plugin.ServeConfig{
			HandshakeConfig: hs,
			Plugins:         plugin.PluginSet{pluginhost.PluginName: nopPlugin{}},
			GRPCServer:      func(o []grpc.ServerOption) *grpc.Server { return grpc.NewServer(o...) },
		})
	default:
		sdk.Serve(teststore.New(), sdk.WithName("test"), sdk.WithVersion("1.0.0"))
	}
}
