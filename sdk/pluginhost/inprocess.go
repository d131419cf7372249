package pluginhost

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/internal/storev1"
	"github.com/izyware/izypop3/sdk/internal/transport"
)

// errHostOnly is returned where go-plugin asks the host side for a server.
var errHostOnly = errors.New("pluginhost: the host side serves no plugin: stores call sdk.Serve")

// inProcessStopTimeout bounds the graceful stop of ServeInProcess's server;
// streams still open after it are cut.
const inProcessStopTimeout = 5 * time.Second

// ServeInProcess serves s over real gRPC on a loopback listener
// (127.0.0.1, an ephemeral port) inside this process, exactly as sdk.Serve
// serves it in a plugin, and returns a Remote connected to it, plus a stop
// function that closes the connection and the server. It is what
// sdk/storetest uses to run the conformance suite across the wire, and what
// benchmarks compare the plugin process with. The store is not closed by
// stop; the caller owns it. info.Name and info.Version are reported by
// Remote.Info (its SDKVersion and Capabilities come from the sdk and s).
func ServeInProcess(s sdk.Store, info Info) (*Remote, func() error, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, fmt.Errorf("pluginhost: in-process listener: %w", err)
	}
	gs := grpc.NewServer(transport.ServerOptions()...)
	storev1.RegisterStoreServer(gs, transport.NewStoreServer(s, transport.Info{Name: info.Name, Version: info.Version}))
	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()

	dial := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, DialOptions()...)
	conn, err := grpc.NewClient("passthrough:///"+lis.Addr().String(), dial...)
	if err != nil {
		gs.Stop()
		<-served
		return nil, nil, fmt.Errorf("pluginhost: in-process client: %w", err)
	}
	var (
		once    sync.Once
		stopErr error
	)
	stop := func() error {
		once.Do(func() { stopErr = stopInProcess(conn, gs, served) })
		return stopErr
	}
	return NewRemote(conn), stop, nil
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
