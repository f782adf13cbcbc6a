package bridge

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIsNativeGRPC(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/grpc":              true,
		"application/grpc+proto":        true,
		"application/grpc;charset=utf8": true,
		"application/grpc-web":          false,
		"application/grpc-web+proto":    false,
		"application/grpc-web-text":     false,
		"application/connect+proto":     false,
		"application/json":              false,
		"":                              false,
		"application/grpcx":             false,
	} {
		assert.Equal(t, want, isNativeGRPC(ct), ct)
	}
}

// readerConn is a net.Conn that reads from r.
type readerConn struct {
	net.Conn
	r io.Reader
}

func (c readerConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// frame encodes one HTTP/2 frame with a zero stream ID.
func frame(typ, flags byte, payload []byte) []byte {
	n := len(payload)
	out := []byte{byte(n >> 16), byte(n >> 8), byte(n), typ, flags, 0, 0, 0, 0}
	return append(out, payload...)
}

// withoutFirstAck is the reference: the stream less its first empty
// SETTINGS ACK frame (frames given one by one).
func withoutFirstAck(frames [][]byte) []byte {
	out := []byte(h2Preface)
	dropped := false
	for _, f := range frames {
		if !dropped && f[3] == frameSettings && f[4]&flagAck != 0 &&
			len(f) == frameHeaderLen {
			dropped = true
			continue
		}
		out = append(out, f...)
	}
	return out
}

func filtered(t testing.TB, stream []byte, wrap func(io.Reader) io.Reader,
) []byte {
	t.Helper()
	c := newSettingsAckFilter(readerConn{r: wrap(bytes.NewReader(stream))})
	out, err := io.ReadAll(c)
	require.NoError(t, err)
	return out
}

func TestSettingsAckFilter(t *testing.T) {
	ack := frame(frameSettings, flagAck, nil)
	frames := [][]byte{
		frame(frameSettings, 0, []byte{0, 3, 0, 0, 0, 100}),
		frame(0x1, 0x4, bytes.Repeat([]byte{7}, 10)), // HEADERS
		frame(0x8, 0, []byte{0, 0, 0, 1}),            // WINDOW_UPDATE
		ack,                                          // the matcher's: dropped
		frame(0x0, 0x1, []byte("hello")),             // DATA
		ack,                                          // the server's: kept
	}
	var stream []byte
	stream = append(stream, h2Preface...)
	for _, f := range frames {
		stream = append(stream, f...)
	}
	want := withoutFirstAck(frames)
	require.Len(t, want, len(stream)-frameHeaderLen)
	readers := map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
	}
	for name, wrap := range readers {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, want, filtered(t, stream, wrap))
		})
	}
	t.Run("no ack", func(t *testing.T) {
		s := append([]byte(h2Preface), frames[0]...)
		assert.Equal(t, s, filtered(t, s, iotest.OneByteReader))
	})
	t.Run("cut in a header", func(t *testing.T) {
		s := append([]byte(h2Preface), frames[0][:4]...)
		c := newSettingsAckFilter(readerConn{r: bytes.NewReader(s)})
		_, err := io.ReadAll(c)
		assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	})
	t.Run("a timeout keeps a partial header", func(t *testing.T) {
		data := frames[4]
		r := &scriptReader{steps: []scriptStep{
			{data: []byte(h2Preface)},
			{data: ack[:4]},
			{err: errTimeout},
			{data: append(append([]byte{}, ack[4:]...), data...)},
		}}
		c := newSettingsAckFilter(readerConn{r: r})
		var out []byte
		buf := make([]byte, 64)
		timeouts := 0
		for {
			n, err := c.Read(buf)
			out = append(out, buf[:n]...)
			if err == io.EOF {
				break
			}
			if errors.Is(err, errTimeout) {
				timeouts++
				continue
			}
			require.NoError(t, err)
		}
		assert.Equal(t, 1, timeouts)
		assert.Equal(t, append([]byte(h2Preface), data...), out)
	})
}

var errTimeout = errors.New("timeout")

// scriptReader returns its steps in order, one per Read, then EOF.
type scriptReader struct{ steps []scriptStep }

type scriptStep struct {
	data []byte
	err  error
}

func (r *scriptReader) Read(p []byte) (int, error) {
	if len(r.steps) == 0 {
		return 0, io.EOF
	}
	s := &r.steps[0]
	if s.err != nil {
		r.steps = r.steps[1:]
		return 0, s.err
	}
	n := copy(p, s.data)
	s.data = s.data[n:]
	if len(s.data) == 0 {
		r.steps = r.steps[1:]
	}
	return n, nil
}

// FuzzSettingsAckFilter: for any sequence of frames, read in any chunk
// sizes, the filter's output is the input less the first empty SETTINGS
// ACK.
func FuzzSettingsAckFilter(f *testing.F) {
	f.Add([]byte{4, 1, 0, 4, 1, 0, 0, 0, 5}, uint8(3))
	f.Add([]byte{4, 0, 6, 1, 4, 3, 4, 1, 0}, uint8(1))
	f.Fuzz(func(t *testing.T, spec []byte, chunk uint8) {
		// spec is triples: type, flags, payload length
		var frames [][]byte
		for i := 0; i+2 < len(spec) && len(frames) < 64; i += 3 {
			frames = append(frames, frame(spec[i]%10, spec[i+1],
				bytes.Repeat([]byte{spec[i+2]}, int(spec[i+2]%40))))
		}
		var stream []byte
		stream = append(stream, h2Preface...)
		for _, fr := range frames {
			stream = append(stream, fr...)
		}
		size := int(chunk%17) + 1
		got := filtered(t, stream, func(r io.Reader) io.Reader {
			return &chunkReader{r: r, n: size}
		})
		require.Equal(t, withoutFirstAck(frames), got)
	})
}

// chunkReader returns at most n bytes per Read.
type chunkReader struct {
	r io.Reader
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(p) > c.n {
		p = p[:c.n]
	}
	return c.r.Read(p)
}
