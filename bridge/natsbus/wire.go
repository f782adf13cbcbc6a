package natsbus

import (
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/arpcbridge/arpcbridge/arpc"
	bridgev1 "github.com/arpcbridge/arpcbridge/gen/arpc/bridge/v1"
)

// DefaultBucket is the KV bucket of the latest snapshots, one key per
// machine ID.
const DefaultBucket = "arpc_clock"

// Headers of the messages on NATS.
const (
	// HeaderEpoch is the engine's epoch (hex) on clock messages and mutation
	// replies: a new epoch (the bridge restarted) starts a new chain.
	HeaderEpoch = "Arpc-Epoch"
	// HeaderSeq is the engine sequence a mutation reply's change reaches;
	// the client waits for the stream to bring its replica there.
	HeaderSeq = "Arpc-Seq"
	// HeaderClient is the client ID a payload is addressed to (none: every
	// client).
	HeaderClient = "Arpc-Client"
)

// ErrMachineId is returned for a machine ID that cannot be part of a NATS
// subject, stream name and KV key.
var ErrMachineId = fmt.Errorf("%w: machine ID unusable on NATS",
	arpc.ErrInvalidParams)

// ErrNoPublisher is returned by Dial when no publisher has published the
// machine (no snapshot in KV).
var ErrNoPublisher = fmt.Errorf("%w: no NATS publisher for the machine",
	arpc.ErrNoConn)

// checkId accepts machine IDs made of letters, digits, '-' and '_'.
func checkId(id string) error {
	if id == "" || len(id) > 200 {
		return fmt.Errorf("%w: %q", ErrMachineId, id)
	}
	for _, r := range id {
		ok := r == '-' || r == '_' || (r >= 'a' && r <= 'z') ||
			(r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if !ok {
			return fmt.Errorf("%w: %q has %q (use letters, digits, - and _)",
				ErrMachineId, id, r)
		}
	}
	return nil
}

// ClockSubject is the JetStream subject of a machine's clock updates.
func ClockSubject(id string) string { return "arpc." + id + ".clock" }

// PayloadSubject is the core NATS subject of a machine's payloads.
func PayloadSubject(id string) string { return "arpc." + id + ".payload" }

// MutateSubject is the request-reply subject of a machine's mutations.
func MutateSubject(id string) string { return "arpc." + id + ".mutate" }

// CanSubject is the request-reply subject of a machine's dry runs.
func CanSubject(id string) string { return "arpc." + id + ".can" }

// ErrSubject is the request-reply subject answering the worker's last
// error message (empty: none).
func ErrSubject(id string) string { return "arpc." + id + ".err" }

// SchemaKey is the KV key of a machine's schema (arpc.bridge.v1.Schema),
// written once by the publisher, next to the snapshot's key <id>.
func SchemaKey(id string) string { return id + ".schema" }

// StreamName is the JetStream stream of a machine's clock.
func StreamName(id string) string {
	return "ARPC_" + strings.ReplaceAll(id, ".", "_")
}

// Snapshot is the KV value of a machine: protobuf fields 1 (Update, an
// arpc.bridge.v1.ClockUpdate with full set), 2 (StreamSeq, varint),
// 3 (Epoch, string), 4 (StateNames, repeated string), 5 (SchemaHash,
// string). Non-Go clients decode it as this message:
//
//	message NatsSnapshot {
//	  arpc.bridge.v1.ClockUpdate update = 1;
//	  uint64 stream_seq = 2;
//	  string epoch = 3;
//	  repeated string state_names = 4;
//	  string schema_hash = 5;
//	  arpc.bridge.v1.Schema schema = 6;
//	}
type Snapshot struct {
	// Update is the full time at Update.ToSeq.
	Update *bridgev1.ClockUpdate
	// StreamSeq is the stream sequence of the last clock message the
	// snapshot includes: a reader continues from StreamSeq+1.
	StreamSeq uint64
	// Epoch is the engine's epoch, as in HeaderEpoch.
	Epoch string
	// StateNames are the worker's state names, in order.
	StateNames []string
	// SchemaHash is arpc.SchemaHash of the worker.
	SchemaHash string
	// Schema is the worker's schema (states and relations); optional, the
	// publisher keeps it under SchemaKey instead, to keep the snapshot that
	// it writes on every change small.
	Schema *bridgev1.Schema
}

var errSnapshot = fmt.Errorf("%w: bad snapshot", arpc.ErrInvalidResp)

// Marshal encodes the snapshot.
func (s *Snapshot) Marshal() ([]byte, error) {
	u, err := proto.Marshal(s.Update)
	if err != nil {
		return nil, err
	}
	b := protowire.AppendTag(nil, 1, protowire.BytesType)
	b = protowire.AppendBytes(b, u)
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, s.StreamSeq)
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	b = protowire.AppendString(b, s.Epoch)
	for _, n := range s.StateNames {
		b = protowire.AppendTag(b, 4, protowire.BytesType)
		b = protowire.AppendString(b, n)
	}
	b = protowire.AppendTag(b, 5, protowire.BytesType)
	b = protowire.AppendString(b, s.SchemaHash)
	if s.Schema != nil {
		sb, err := proto.Marshal(s.Schema)
		if err != nil {
			return nil, err
		}
		b = protowire.AppendTag(b, 6, protowire.BytesType)
		b = protowire.AppendBytes(b, sb)
	}
	return b, nil
}

// UnmarshalSnapshot decodes a KV value; errors wrap arpc.ErrInvalidResp.
func UnmarshalSnapshot(b []byte) (*Snapshot, error) {
	s := &Snapshot{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("%w: %w", errSnapshot, protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case num == 2 && typ == protowire.VarintType:
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return nil, fmt.Errorf("%w: %w", errSnapshot, protowire.ParseError(m))
			}
			s.StreamSeq, b = v, b[m:]
			continue
		case typ == protowire.BytesType && num >= 1 && num <= 6:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return nil, fmt.Errorf("%w: %w", errSnapshot, protowire.ParseError(m))
			}
			b = b[m:]
			switch num {
			case 1:
				s.Update = &bridgev1.ClockUpdate{}
				if err := proto.Unmarshal(v, s.Update); err != nil {
					return nil, fmt.Errorf("%w: %w", errSnapshot, err)
				}
			case 3:
				s.Epoch = string(v)
			case 4:
				s.StateNames = append(s.StateNames, string(v))
			case 5:
				s.SchemaHash = string(v)
			case 6:
				s.Schema = &bridgev1.Schema{}
				if err := proto.Unmarshal(v, s.Schema); err != nil {
					return nil, fmt.Errorf("%w: %w", errSnapshot, err)
				}
			default:
				return nil, fmt.Errorf("%w: field %d", errSnapshot, num)
			}
			continue
		}
		// unknown fields are skipped, for later versions
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return nil, fmt.Errorf("%w: %w", errSnapshot, protowire.ParseError(m))
		}
		b = b[m:]
	}
	if s.Update == nil || !s.Update.Full {
		return nil, fmt.Errorf("%w: no full update", errSnapshot)
	}
	return s, nil
}

// Error codes of the micro service's error replies
// (Nats-Service-Error-Code).
const (
	codeInvalid  = "400"
	codeSchema   = "412"
	codeInternal = "500"
)

func errCode(err error) string {
	switch {
	case errors.Is(err, arpc.ErrSchemaMismatch):
		return codeSchema
	case errors.Is(err, arpc.ErrInvalidParams):
		return codeInvalid
	}
	return codeInternal
}

func codeErr(code, desc string) error {
	switch code {
	case codeInvalid:
		return fmt.Errorf("%w: %s", arpc.ErrInvalidParams, desc)
	case codeSchema:
		return fmt.Errorf("%w: %s", arpc.ErrSchemaMismatch, desc)
	}
	return fmt.Errorf("%w: %s", arpc.ErrRpc, desc)
}
