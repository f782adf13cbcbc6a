package arpc

import (
	"bytes"
	"io"
	"net"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// answerH2 answers a plaintext HTTP/2 client of a TLS port: it reads the
// client's preface and frames up to its first request's headers, answers
// that request with a gRPC status UNAUTHENTICATED (16) carrying msg (a
// trailers-only response, which every gRPC client reports as the call's
// error), and says GOAWAY. conn's deadline bounds it.
func answerH2(conn net.Conn, msg string) {
	pre := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(conn, pre); err != nil ||
		string(pre) != http2.ClientPreface {
		return
	}
	fr := http2.NewFramer(conn, conn)
	if fr.WriteSettings() != nil {
		return
	}
	var stream uint32
	for stream == 0 {
		f, err := fr.ReadFrame()
		if err != nil {
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() && fr.WriteSettingsAck() != nil {
				return
			}
		case *http2.HeadersFrame:
			stream = f.StreamID
		}
	}
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, h := range [][2]string{{":status", "200"},
		{"content-type", "application/grpc"}, {"grpc-status", "16"},
		{"grpc-message", msg}} {
		_ = enc.WriteField(hpack.HeaderField{Name: h[0], Value: h[1]})
	}
	if fr.WriteHeaders(http2.HeadersFrameParam{StreamID: stream,
		BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true}) != nil {
		return
	}
	_ = fr.WriteGoAway(stream, http2.ErrCodeInadequateSecurity, []byte(msg))
}
