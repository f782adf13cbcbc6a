package arpc

import (
	"encoding/gob"

	"github.com/arpcbridge/arpcbridge/arpc/internal/wire"
)

// ProtocolVersion is the version of the aRPC wire protocol spoken here. A
// server refuses a Hello with another version (ErrRpc). See
// docs/protocol.md.
const ProtocolVersion = wire.ProtocolVersion

func init() {
	// typed aRPC args travel inside am.A
	gob.Register(&A{})
	gob.Register(&ArgsPayload{})
}
