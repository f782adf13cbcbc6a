// Package wire is the aRPC codec: how messages look on the wire, and
// nothing about connections. It holds the protocol version and method
// names, the messages both peers exchange, the hand-encoded header that
// frames every message and carries the hot bodies (mutations, their
// replies, clock pushes), the raw bodies of the handshake, the per-direction
// stream state that turns growing numbers into small differences, the
// packing of scalar args, the gob stream of bodies holding user values, and
// the conversion between engine updates and wire updates.
//
// An Encoder turns one message into bytes to write; a Decoder reads
// messages from an io.Reader. The arpc package adapts both to rpc2 and a
// net.Conn (deadlines, byte counters, closing a poisoned connection).
//
// The layout is documented in docs/protocol.md.
package wire
