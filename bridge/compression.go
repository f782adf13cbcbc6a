package bridge

import (
	"fmt"
	"slices"

	// zstd for grpc-encoding, registered on import
	_ "github.com/mostynb/go-grpc-compression/zstd"
	// gzip for grpc-encoding, registered on import
	_ "google.golang.org/grpc/encoding/gzip"

	"github.com/arpcbridge/arpcbridge/arpc"
)

// Compressions are the compressions of the gRPC door, for
// ClientOpts.Compression (arpc.Compression, the type of the aRPC door's
// option too), registered with grpc-go under their grpc-encoding names
// ("gzip", "zstd") for any gRPC client: a bridge server answers a call in
// the compression its request came in (standard grpc-encoding negotiation)
// and advertises these in grpc-accept-encoding. Decompressed messages are
// held to the receiver's message limit (ServerOpts.MaxRecvMsgSize; grpc-go
// checks it while decompressing, before allocating more): a compressed
// message that expands past it ends its call with RESOURCE_EXHAUSTED, and
// the server goes on serving.
var Compressions = []arpc.Compression{arpc.CompressionGzip, arpc.CompressionZstd}

// grpcEncoding returns the grpc-encoding name of c, "" for none, and
// refuses a compression the gRPC door does not offer (arpc.CompressionS2
// is the aRPC door's only).
func grpcEncoding(c arpc.Compression) (string, error) {
	switch {
	case c == "" || c == arpc.CompressionNone:
		return "", nil
	case slices.Contains(Compressions, c):
		return string(c), nil
	}
	return "", fmt.Errorf("%w: compression %q on the gRPC door (one of %v)",
		arpc.ErrInvalidParams, c, Compressions)
}
