// Command testplugin is the store plugin of the storehost tests: the
// in-memory teststore served with sdk.Serve. Variants are chosen at build
// time with -ldflags "-X main.variant=...":
//
//	""          the store with Configurer, Checker and Locker
//	"plain"     the store without any optional interface
//	"protocol2" a go-plugin server speaking plugin protocol 2 (wrong version)
//	"certline"  a handshake line carrying a server certificate the host
//	            did not ask for (then nothing is served)
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"math/big"
	"os"
	"time"

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
	case "certline":
		der, err := selfSigned()
		if err != nil {
			panic(err)
		}
		fmt.Printf("1|%d|unix|%s/nothing|grpc|%s\n", pluginhost.ProtocolVersion, os.Getenv("PLUGIN_UNIX_SOCKET_DIR"), base64.RawStdEncoding.EncodeToString(der))
		time.Sleep(time.Minute)
	default:
		sdk.Serve(teststore.New(), sdk.WithName("test"), sdk.WithVersion("1.0.0"))
	}
}

// selfSigned is the DER of a fresh self-signed certificate.
func selfSigned() ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"localhost"}}
	return x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
}
