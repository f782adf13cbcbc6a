package bridge

import (
	"io"
	"net"
	"strings"

	"github.com/soheilhy/cmux"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Routing of cleartext HTTP/2 (h2c) on the shared port. Native gRPC
// (content-type application/grpc, application/grpc+proto, ...) goes to
// grpc-go; every other h2c connection (Connect, gRPC-Web, plain HTTP/2
// with prior knowledge) goes to the HTTP server, as HTTP/1.1 does.
//
// gRPC clients wait for the server's SETTINGS before they send their first
// HEADERS, so the matcher has to send SETTINGS while it reads them (cmux's
// MatchWithWriters). A connection that then goes to net/http's HTTP/2
// server has received two SETTINGS frames (the matcher's and the server's)
// and acknowledges both, and net/http closes a connection that
// acknowledges SETTINGS it never sent. settingsAckFilter removes the
// client's first acknowledgement, the matcher's, from what net/http reads.

// h2Preface is what every HTTP/2 client sends first.
const h2Preface = http2.ClientPreface

// maxMatchHeaderTable bounds the HPACK table the matcher decodes with.
const maxMatchHeaderTable = 4 << 10

// isNativeGRPC reports whether an HTTP/2 content type is native gRPC's:
// "application/grpc" alone or with a "+codec" or ";params" suffix; not
// gRPC-Web ("application/grpc-web...").
func isNativeGRPC(contentType string) bool {
	rest, ok := strings.CutPrefix(contentType, "application/grpc")
	return ok && (rest == "" || rest[0] == '+' || rest[0] == ';')
}

// nativeGRPCMatcher matches an HTTP/2 connection whose first request is
// native gRPC, sending SETTINGS while it reads the request's headers.
func nativeGRPCMatcher() cmux.MatchWriter {
	return func(w io.Writer, r io.Reader) bool {
		var preface [len(h2Preface)]byte
		if _, err := io.ReadFull(r, preface[:]); err != nil ||
			string(preface[:]) != h2Preface {
			return false
		}
		var contentType string
		found := false
		dec := hpack.NewDecoder(maxMatchHeaderTable, func(f hpack.HeaderField) {
			if f.Name == "content-type" && !found {
				contentType, found = f.Value, true
			}
		})
		fr := http2.NewFramer(w, r)
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				return false
			}
			var block []byte
			end := false
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					if err := fr.WriteSettings(); err != nil {
						return false
					}
				}
				continue
			case *http2.HeadersFrame:
				block, end = f.HeaderBlockFragment(), f.HeadersEnded()
			case *http2.ContinuationFrame:
				block, end = f.HeaderBlockFragment(), f.HeadersEnded()
			default:
				continue
			}
			if _, err := dec.Write(block); err != nil {
				return false
			}
			if found || end {
				return isNativeGRPC(contentType)
			}
		}
	}
}

// h2cListener hands out the h2c connections that nativeGRPCMatcher did not
// take, each with its first SETTINGS acknowledgement removed.
type h2cListener struct{ net.Listener }

func (l h2cListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newSettingsAckFilter(c), nil
}

// HTTP/2 frame header layout (RFC 9113, section 4.1).
const (
	frameHeaderLen = 9
	frameSettings  = 0x4
	flagAck        = 0x1
)

// settingsAckFilter passes an HTTP/2 client's byte stream through, less the
// first empty SETTINGS frame with the ACK flag. It parses only frame
// headers, and only until it has removed that frame.
type settingsAckFilter struct {
	net.Conn
	// skip is how many bytes to pass before the next frame header (the
	// preface, then each frame's payload).
	skip    int
	pending []byte
	hdr     [frameHeaderLen]byte
	hdrN    int // bytes of hdr read so far
	done    bool
}

func newSettingsAckFilter(c net.Conn) *settingsAckFilter {
	return &settingsAckFilter{Conn: c, skip: len(h2Preface)}
}

// Read is not safe for concurrent use, like reads of most connections.
func (c *settingsAckFilter) Read(p []byte) (int, error) {
	for {
		switch {
		case len(p) == 0:
			return 0, nil
		case len(c.pending) > 0:
			n := copy(p, c.pending)
			c.pending = c.pending[n:]
			return n, nil
		case c.done:
			return c.Conn.Read(p)
		case c.skip > 0:
			if len(p) > c.skip {
				p = p[:c.skip]
			}
			n, err := c.Conn.Read(p)
			c.skip -= n
			return n, err
		}
		// a read error (a deadline) keeps the partial header for the next
		// Read
		n, err := io.ReadFull(c.Conn, c.hdr[c.hdrN:])
		c.hdrN += n
		if err != nil {
			return 0, err
		}
		c.hdrN = 0
		length := int(c.hdr[0])<<16 | int(c.hdr[1])<<8 | int(c.hdr[2])
		if c.hdr[3] == frameSettings && c.hdr[4]&flagAck != 0 && length == 0 {
			c.done = true
			continue
		}
		c.pending = c.hdr[:]
		c.skip = length
	}
}
