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

// Compressions are the grpc-encoding names this package registers with
// grpc-go, for ClientOpts.Compression and for any gRPC client: a bridge
// server answers a call in the compression its request came in (standard
// grpc-encoding negotiation) and advertises these in grpc-accept-encoding.
// Decompressed messages are held to the receiver's message limit
// (ServerOpts.MaxRecvMsgSize; grpc-go checks it while decompressing, before
// allocating more): a compressed message that expands past it ends its call
// with RESOURCE_EXHAUSTED, and the server goes on serving.
var Compressions = []string{"gzip", "zstd"}

// checkCompression refuses a name that is not one of Compressions.
func checkCompression(name string) error {
	if !slices.Contains(Compressions, name) {
		return fmt.Errorf("%w: compression %q (one of %v)",
			arpc.ErrInvalidParams, name, Compressions)
	}
	return nil
}
