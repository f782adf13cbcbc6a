package wire

import (
	am "github.com/pancsta/asyncmachine-go/pkg/machine"
)

// ProtocolVersion is the version of the aRPC wire protocol spoken here. A
// server refuses a Hello with another version (ErrRpc). See
// docs/protocol.md.
const ProtocolVersion = 4

// Preface is written by the client before anything else: it lets a port
// multiplexer recognise aRPC, and a server drop non-aRPC peers at once.
const Preface = "aRPC"

// Method names, client → server.
const (
	MHello     = "Hello"
	MReady     = "Ready"
	MMutate    = "M"
	MMutateNS  = "MN"
	MSync      = "Sync"
	MGet       = "Get"
	MCan       = "Can"
	MErr       = "Err"
	MWhenArgs  = "WA"
	MWhenArgsX = "WAX"
	MBye       = "Bye"
	// MPing is a liveness check, answered at any time (see Client.PingTimeout).
	MPing = "Ping"
)

// Method names, server → client (all notifications).
const (
	MClock        = "C"
	MPayload      = "P"
	MWhenArgsDone = "WAD"
	MServerBye    = "SBye"
	MHeartbeat    = "HB"
)

// Empty is an empty request or reply.
type Empty struct{}

// ArgsHello opens the handshake.
type ArgsHello struct {
	// Version is the client's ProtocolVersion.
	Version int
	// ClientId is the client's machine ID, checked against Server.AllowId.
	ClientId string
	// SchemaHash is the hash of the client's names and relations.
	SchemaHash string
	// KnownTime is the replica's time when resuming after a reconnect; nil on
	// a first connection.
	KnownTime am.Time
	// KnownSeq is the replica's sequence number when resuming.
	KnownSeq uint64
	// IdScope is the scope of the client's mutation IDs (Worker.IdScope):
	// the server remembers recent mutations per ClientId and IdScope, so
	// that IDs can be small counters.
	IdScope uint64
	// Heartbeat asks the server to send a heartbeat whenever it wrote
	// nothing for this long (nanoseconds; 0: none, else at least 50 ms), so
	// the client can tell a slow worker from a dead link.
	Heartbeat int64
	// Token is the client's bearer token (ClientOpts.Token), "" for none.
	Token string
	// Encoding is the encoding the client's bodies holding user values will
	// use (ClientOpts.Encoding); the server uses it too.
	Encoding Encoding
	// Compression is the compression the client asks for
	// (ClientOpts.Compression).
	Compression Compression
	// PushAllTicks asks for every worker transition (ClientOpts.PushAllTicks):
	// an options byte at the end of the Hello's extension block, only when
	// set.
	PushAllTicks bool
}

// RespHello answers ArgsHello.
type RespHello struct {
	Err *Error
	// WorkerId is the worker machine's ID.
	WorkerId string
	// ServerId is the server machine's ID.
	ServerId string
	// Names are the worker's ordered state names.
	Names am.S
	// Schema is sent only when the client's SchemaHash differs.
	Schema am.Schema
	// Epoch identifies the server's clock engine.
	Epoch uint64
	// Clock is the full time, or a resume diff when KnownTime was accepted.
	Clock *Update
	// MachineTick is the worker's machine tick.
	MachineTick uint32
	// Resumed says Clock continues the client's replica instead of replacing
	// it.
	Resumed bool
	// Groups are the worker's state groups (am.Api.Groups): state indexes
	// by group name, in GroupsOrder; none when the worker has no groups.
	Groups      map[string][]int
	GroupsOrder []string
	// Encoding and Compression are what both sides send with from now on
	// (negotiated; see docs/protocol.md). Negotiated says they are set: an
	// accepted version 4 Hello always is, a refusal never (older clients
	// decode refusals).
	Encoding    Encoding
	Compression Compression
	Negotiated  bool
}

// Error is an error as sent over the wire: the code of its sentinel (see
// arpc's errors.go) and its message.
type Error struct {
	Code uint8
	Msg  string
}

// Update is an engine update on the wire. Fields are laid out so that
// the common case costs nothing: gob leaves out zero values.
type Update struct {
	// From is the sequence the update applies on (ignored when Full).
	From uint64
	// Span is To - From - 1 (modulo 2^64), where To is the sequence the update
	// produces: 0 for the usual update that covers one transition.
	Span uint64
	// Diff is the clock diff, encoded with clock.AppendBinary.
	Diff []byte
	// Sum is the tick sum after applying, for drift detection.
	Sum uint64
	// QT is the worker's queue tick at To.
	QT uint64
	// Full marks a snapshot that replaces the replica's time.
	Full bool
	// Ticks are the update's worker transitions and gap, for a client that
	// asked for every one (ArgsHello.PushAllTicks), encoded (ticks.go);
	// nil for none.
	Ticks []byte
}

// To returns the sequence the update produces.
func (wu *Update) To() uint64 { return wu.From + wu.Span + 1 }

// Mutation types on the wire (ArgsMut.Type).
const (
	// MutAdd adds ArgsMut.States.
	MutAdd uint8 = 0
	// MutRemove removes ArgsMut.States.
	MutRemove uint8 = 1
	// MutSet sets exactly ArgsMut.States.
	MutSet uint8 = 2
	// MutAddErr is AddErrState: States[0] is the error state, ErrMsg the
	// error's message.
	MutAddErr uint8 = 3
)

// ArgsMut is a mutation request.
type ArgsMut struct {
	// Type is add, remove or set.
	Type uint8
	// States are state indexes.
	States []int
	// Args are the mutation's args (scalars packed, the rest in the
	// connection's encoding; for gob, custom types must be
	// registered).
	Args am.A
	// Id is the mutation's ID within the client's IdScope (see ArgsHello),
	// for exactly-once retries; 0 disables deduplication.
	Id uint64
	// Event names the source event of Ev* mutations, informational.
	Event string
	// ErrMsg is the error of an AddErrState mutation.
	ErrMsg string
	// Headers are optional metadata of the mutation, such as the W3C trace
	// context ("traceparent", "tracestate") of the client's span; nil costs
	// nothing on the wire. At most MaxHeaders.
	Headers map[string]string
}

// MaxHeaders bounds ArgsMut.Headers; a mutation with more is refused by the
// decoder.
const MaxHeaders = 16

// RespMut answers ArgsMut.
type RespMut struct {
	Err    *Error
	Result am.Result
	Clock  *Update
	// Seq is the engine sequence right after the mutation. When Clock does
	// not reach it (a concurrent push carried the change), the client waits
	// for that push before returning.
	Seq uint64
}

// ArgsSync asks for the clock.
type ArgsSync struct {
	// Full asks for a full snapshot instead of a diff (a resync).
	Full bool
}

// RespSync answers ArgsSync.
type RespSync struct {
	Err   *Error
	Clock *Update
	// Seq is the engine sequence when the Sync was answered (see RespMut).
	Seq uint64
}

// ArgsGet asks the server's getter for a named value.
type ArgsGet struct {
	Name string
}

// RespGet answers ArgsGet.
type RespGet struct {
	Err   *Error
	Value any
}

// RespErr answers the Err method: the worker's last error.
type RespErr struct {
	Err *Error
	// Msg is the error message, empty for none.
	Msg string
}

// ArgsWhenArgs registers a remote WhenArgs subscription.
type ArgsWhenArgs struct {
	Id    uint64
	State int
	Args  am.A
}

// ArgsWhenArgsDone tells the client a WhenArgs subscription matched.
type ArgsWhenArgsDone struct {
	Id uint64
}
