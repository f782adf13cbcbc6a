package bridge

import (
	"context"
	"errors"
	"net"

	"google.golang.org/grpc/credentials"

	"github.com/arpcbridge/arpcbridge/arpc/auth"
)

// terminatedTLS are the gRPC server credentials of a port whose TLS the
// Server terminates itself, before cmux routes the connection: the
// handshake is done, and ServerHandshake only hands gRPC the peer's TLS
// state (credentials.TLSInfo) for the calls' peer.AuthInfo.
type terminatedTLS struct{}

var errClientSide = errors.New("bridge: terminatedTLS is server-side only")

func (terminatedTLS) ClientHandshake(context.Context, string, net.Conn) (
	net.Conn, credentials.AuthInfo, error,
) {
	return nil, nil, errClientSide
}

func (terminatedTLS) ServerHandshake(conn net.Conn) (net.Conn,
	credentials.AuthInfo, error,
) {
	st := auth.ConnState(conn)
	if st == nil {
		return nil, nil, errors.New("bridge: a plaintext connection on a TLS port")
	}
	return conn, credentials.TLSInfo{State: *st,
		CommonAuthInfo: credentials.CommonAuthInfo{
			SecurityLevel: credentials.PrivacyAndIntegrity}}, nil
}

func (terminatedTLS) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "tls"}
}

func (t terminatedTLS) Clone() credentials.TransportCredentials { return t }

func (terminatedTLS) OverrideServerName(string) error { return nil }
