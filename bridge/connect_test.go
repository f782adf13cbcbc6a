package bridge_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/arpcbridge/arpcbridge/bridge"
	bridgev1 "github.com/arpcbridge/arpcbridge/gen/arpc/bridge/v1"
)

// The tests below talk Connect and gRPC-Web to a real server on loopback
// with plain net/http, over HTTP/1.1 (as browsers and curl do) and over h2c
// (HTTP/2 with prior knowledge), on the port that also serves native gRPC
// and aRPC.

const svcPath = "/arpc.bridge.v1.BridgeService/"

// httpClients are an HTTP/1.1 and an h2c client, closed with the test.
func httpClients(t *testing.T) map[string]*http.Client { return benchClients(t) }

// benchClients is httpClients for tests and benchmarks.
func benchClients(t testing.TB) map[string]*http.Client {
	t.Helper()
	h1 := &http.Transport{}
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	h2c := &http.Transport{Protocols: &p}
	t.Cleanup(h1.CloseIdleConnections)
	t.Cleanup(h2c.CloseIdleConnections)
	return map[string]*http.Client{
		"http1": {Transport: h1, Timeout: 20 * time.Second},
		"h2c":   {Transport: h2c, Timeout: 20 * time.Second},
	}
}

// wireFormat is one way of putting a message on the wire: Connect unary,
// Connect streaming or gRPC-Web, with JSON or binary protobuf.
type wireFormat struct {
	name      string
	unaryType string // content type of a unary call
	streamTy  string // content type of a streaming call
	json      bool
	grpcWeb   bool
}

var wireFormats = []wireFormat{
	{name: "connect-json", unaryType: "application/json",
		streamTy: "application/connect+json", json: true},
	{name: "connect-proto", unaryType: "application/proto",
		streamTy: "application/connect+proto"},
	{name: "grpc-web-proto", unaryType: "application/grpc-web+proto",
		streamTy: "application/grpc-web+proto", grpcWeb: true},
	{name: "grpc-web-json", unaryType: "application/grpc-web+json",
		streamTy: "application/grpc-web+json", json: true, grpcWeb: true},
}

func (f wireFormat) marshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	var b []byte
	var err error
	if f.json {
		b, err = protojson.Marshal(m)
	} else {
		b, err = proto.Marshal(m)
	}
	require.NoError(t, err)
	return b
}

func (f wireFormat) unmarshal(t *testing.T, b []byte, m proto.Message) {
	t.Helper()
	if f.json {
		require.NoError(t, protojson.Unmarshal(b, m), string(b))
		return
	}
	require.NoError(t, proto.Unmarshal(b, m))
}

// envelope frames one message of a streaming (or gRPC-Web) body.
func envelope(flags byte, data []byte) []byte {
	out := make([]byte, 5, 5+len(data))
	out[0] = flags
	binary.BigEndian.PutUint32(out[1:], uint32(len(data)))
	return append(out, data...)
}

// readEnvelope reads one framed message.
func readEnvelope(r io.Reader) (flags byte, data []byte, err error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > 1<<20 {
		return 0, nil, fmt.Errorf("envelope of %d bytes", n)
	}
	data = make([]byte, n)
	_, err = io.ReadFull(r, data)
	return hdr[0], data, err
}

// Flags of the last message of a response: Connect's end of stream (a JSON
// object with an optional error) and gRPC-Web's trailers (HTTP/1 header
// lines).
const (
	connectEndStream = 0x02
	grpcWebTrailers  = 0x80
)

// post sends one request and returns the response; the caller closes its
// body.
func post(t *testing.T, ctx context.Context, c *http.Client, url, ctype string,
	body []byte,
) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url,
		bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", ctype)
	res, err := c.Do(req)
	require.NoError(t, err)
	return res
}

// unary calls method with f and returns the HTTP status, the response
// message bytes (or Connect's error JSON) and gRPC-Web's trailers.
func (f wireFormat) unary(t *testing.T, c *http.Client, base, method string,
	in proto.Message,
) (status int, msg []byte, trailers string) {
	t.Helper()
	body := f.marshal(t, in)
	if f.grpcWeb {
		body = envelope(0, body)
	}
	res := post(t, context.Background(), c, base+svcPath+method, f.unaryType,
		body)
	defer res.Body.Close()
	if !f.grpcWeb {
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res.StatusCode, b, ""
	}
	r := bufio.NewReader(res.Body)
	for {
		flags, data, err := readEnvelope(r)
		if errors.Is(err, io.EOF) && msg == nil {
			// trailers-only: an error without messages is all headers
			return res.StatusCode, nil, strings.ToLower(fmt.Sprintf(
				"grpc-status: %s\r\ngrpc-message: %s\r\n",
				res.Header.Get("Grpc-Status"), res.Header.Get("Grpc-Message")))
		}
		require.NoError(t, err)
		if flags&grpcWebTrailers != 0 {
			return res.StatusCode, msg, strings.ToLower(string(data))
		}
		msg = data
	}
}

func TestConnectUnary(t *testing.T) {
	w := newWorker(t)
	s := startServer(t, w, nil)
	base := "http://" + s.Addr().String()
	for cname, c := range httpClients(t) {
		for _, f := range wireFormats {
			t.Run(cname+"/"+f.name, func(t *testing.T) {
				w.Remove(am.S{"A", "B"}, nil)
				id := "c-" + f.name + "-" + cname

				status, b, tr := f.unary(t, c, base, "Handshake",
					&bridgev1.HandshakeRequest{ClientId: id})
				require.Equal(t, http.StatusOK, status, string(b))
				var hs bridgev1.HandshakeResponse
				f.unmarshal(t, b, &hs)
				assert.Equal(t, []string(testNames), hs.StateNames)
				assert.Len(t, hs.Schema.GetStates(), len(testNames))
				if f.grpcWeb {
					assert.Contains(t, tr, "grpc-status: 0")
				}

				status, b, _ = f.unary(t, c, base, "Mutate",
					&bridgev1.MutateRequest{ClientId: id,
						Type:   bridgev1.MutationType_MUTATION_TYPE_ADD,
						States: []string{"A"}, KnownSeq: hs.Seq})
				require.Equal(t, http.StatusOK, status, string(b))
				var mr bridgev1.MutateResponse
				f.unmarshal(t, b, &mr)
				assert.Equal(t, bridgev1.MutationResult_MUTATION_RESULT_EXECUTED,
					mr.Result)
				assert.True(t, w.Is(am.S{"A", "B"}), "A adds B")
				assert.Equal(t, hs.Seq, mr.Update.GetFromSeq(),
					"the reply's update continues the handshake")

				// canceled by a relation: C requires B
				w.Remove(am.S{"B"}, nil)
				status, b, _ = f.unary(t, c, base, "Mutate",
					&bridgev1.MutateRequest{ClientId: id,
						Type:   bridgev1.MutationType_MUTATION_TYPE_ADD,
						States: []string{"C"}, NoSync: true})
				require.Equal(t, http.StatusOK, status, string(b))
				mr.Reset()
				f.unmarshal(t, b, &mr)
				assert.Equal(t, bridgev1.MutationResult_MUTATION_RESULT_CANCELED,
					mr.Result)
				assert.Nil(t, mr.Update, "no_sync")

				// a bad request keeps its gRPC code
				status, b, tr = f.unary(t, c, base, "Mutate",
					&bridgev1.MutateRequest{ClientId: id,
						Type:   bridgev1.MutationType_MUTATION_TYPE_ADD,
						States: []string{"Nope"}})
				if f.grpcWeb {
					assert.Equal(t, http.StatusOK, status)
					assert.Contains(t, tr, "grpc-status: 3")
					assert.Contains(t, tr, `unknown state`)
				} else {
					assert.Equal(t, http.StatusBadRequest, status)
					assert.Contains(t, string(b), `"code":"invalid_argument"`)
					assert.Contains(t, string(b), `unknown state \"Nope\"`)
				}
			})
		}
	}
}

// TestConnectCurlMutate sends the README's curl request byte for byte: no
// Connect-Protocol-Version header, snake_case JSON.
func TestConnectCurlMutate(t *testing.T) {
	w := newWorker(t)
	s := startServer(t, w, nil)
	for cname, c := range httpClients(t) {
		t.Run(cname, func(t *testing.T) {
			w.Remove(am.S{"A", "B"}, nil)
			res := post(t, context.Background(), c,
				"http://"+s.Addr().String()+svcPath+"Mutate", "application/json",
				[]byte(`{"client_id":"c","type":"MUTATION_TYPE_ADD","states":["A"]}`))
			defer res.Body.Close()
			b, err := io.ReadAll(res.Body)
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, res.StatusCode, string(b))
			assert.Equal(t, "application/json", res.Header.Get("Content-Type"))
			assert.Contains(t, string(b), `"result":"MUTATION_RESULT_EXECUTED"`)
			assert.True(t, w.Is1("A"))
		})
	}
}

// watchStream opens WatchClock with f and returns a function reading the
// next message, and the response (closed with the test).
func (f wireFormat) watch(t *testing.T, ctx context.Context, c *http.Client,
	base string, req *bridgev1.WatchClockRequest,
) func() (*bridgev1.WatchClockResponse, error) {
	t.Helper()
	res := post(t, ctx, c, base+svcPath+"WatchClock", f.streamTy,
		envelope(0, f.marshal(t, req)))
	t.Cleanup(func() { _ = res.Body.Close() })
	require.Equal(t, http.StatusOK, res.StatusCode)
	r := bufio.NewReader(res.Body)
	return func() (*bridgev1.WatchClockResponse, error) {
		flags, data, err := readEnvelope(r)
		if err != nil {
			return nil, err
		}
		if flags&(connectEndStream|grpcWebTrailers) != 0 {
			return nil, fmt.Errorf("%w: %s", io.EOF, data)
		}
		var m bridgev1.WatchClockResponse
		f.unmarshal(t, data, &m)
		return &m, nil
	}
}

func TestConnectWatchClock(t *testing.T) {
	w := newWorker(t)
	s := startServer(t, w, nil)
	base := "http://" + s.Addr().String()
	for cname, c := range httpClients(t) {
		for _, f := range wireFormats {
			t.Run(cname+"/"+f.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(),
					15*time.Second)
				defer cancel()
				next := f.watch(t, ctx, c, base, &bridgev1.WatchClockRequest{
					ClientId: "w-" + f.name + "-" + cname})
				var r replica
				m, err := next()
				require.NoError(t, err)
				require.NotNil(t, m.GetUpdate(), m)
				require.True(t, m.GetUpdate().Full)
				r.apply(t, m.GetUpdate())
				m, err = next()
				require.NoError(t, err)
				require.NotNil(t, m.GetInitialSyncDone(), m)
				assert.Equal(t, r.seq, m.GetInitialSyncDone().Seq)

				// a worker-side change arrives as a diff
				w.Toggle1("E", nil)
				want := w.Time(nil)
				for !equalTime(r.time, want) {
					m, err = next()
					require.NoError(t, err)
					if u := m.GetUpdate(); u != nil {
						assert.False(t, u.Full)
						r.apply(t, u)
					}
				}
			})
		}
	}
}

func equalTime(a, b []uint64) bool { return slices.Equal(a, b) }

// TestConnectStreamEndsOnShutdown: a browser's stream ends with UNAVAILABLE
// when the server shuts down, so the page knows to reconnect.
func TestConnectStreamEndsOnShutdown(t *testing.T) {
	w := newWorker(t)
	l := listen(t)
	s, err := bridge.NewServer(context.Background(), l, "s", w, nil)
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()
	c := httpClients(t)["http1"]
	f := wireFormats[0]
	next := f.watch(t, context.Background(), c, "http://"+l.Addr().String(),
		&bridgev1.WatchClockRequest{ClientId: "bye"})
	for range 2 { // the snapshot, InitialSyncDone
		_, err := next()
		require.NoError(t, err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, s.Shutdown(sctx))
	require.NoError(t, <-served)
	for {
		_, err = next()
		if err != nil {
			break
		}
	}
	require.ErrorIs(t, err, io.EOF)
	assert.Contains(t, err.Error(), `"code":"unavailable"`)
}

// TestSharedPortRouting: on one port, native gRPC, Connect over HTTP/1.1
// and h2c, /healthz over both, and the HTTP handler for everything else.
func TestSharedPortRouting(t *testing.T) {
	w := newWorker(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "hi")
	})
	s := startServer(t, w, &bridge.ServerOpts{HTTP: mux})
	addr := s.Addr().String()
	rpc := rawClient(t, addr)
	_, err := rpc.Handshake(context.Background(),
		&bridgev1.HandshakeRequest{ClientId: "native"})
	require.NoError(t, err, "native gRPC")
	for cname, c := range httpClients(t) {
		t.Run(cname, func(t *testing.T) {
			for path, want := range map[string]string{
				"/healthz": "ok\n", "/hello": "hi"} {
				res, err := c.Get("http://" + addr + path)
				require.NoError(t, err)
				b, _ := io.ReadAll(res.Body)
				_ = res.Body.Close()
				assert.Equal(t, want, string(b), path)
				assert.Equal(t, cname == "h2c", res.ProtoMajor == 2)
			}
			res, err := c.Get("http://" + addr + "/nothing")
			require.NoError(t, err)
			_ = res.Body.Close()
			assert.Equal(t, http.StatusNotFound, res.StatusCode)
			// a second native gRPC connection still reaches grpc-go
			_, err = rawClient(t, addr).Handshake(context.Background(),
				&bridgev1.HandshakeRequest{ClientId: "native2"})
			require.NoError(t, err)
		})
	}
}

func TestNoConnect(t *testing.T) {
	w := newWorker(t)
	s := startServer(t, w, &bridge.ServerOpts{NoConnect: true})
	res := post(t, context.Background(), httpClients(t)["http1"],
		"http://"+s.Addr().String()+svcPath+"Handshake", "application/json",
		[]byte(`{"client_id":"c"}`))
	_ = res.Body.Close()
	assert.Equal(t, http.StatusNotFound, res.StatusCode)
}

// TestConnectBadRequests: malformed bodies get an error and the server goes
// on serving.
func TestConnectBadRequests(t *testing.T) {
	w := newWorker(t)
	s := startServer(t, w, nil)
	base := "http://" + s.Addr().String() + svcPath
	c := httpClients(t)["http1"]
	// the codes are vanguard's and grpc-go's (Internal for a message that
	// does not unmarshal, as on native gRPC)
	cases := []struct {
		name, path, ctype, body string
		status                  int
		msg                     string
	}{
		{"bad json", "Mutate", "application/json", `{"type":`, 500, "unexpected EOF"},
		{"unknown field ignored", "Mutate", "application/json", `{"nope":1}`, 400, "mutation type 0"},
		{"bad proto", "Mutate", "application/proto", "\xff\xff\xff", 500, "failed to unmarshal"},
		{"unknown method", "Nope", "application/json", `{}`, 404, ""},
		{"bad stream frame", "WatchClock", "application/connect+json", "\x00\x00", 200, `"error"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := post(t, context.Background(), c, base+tc.path, tc.ctype,
				[]byte(tc.body))
			b, _ := io.ReadAll(res.Body)
			_ = res.Body.Close()
			assert.Equal(t, tc.status, res.StatusCode, string(b))
			assert.Contains(t, string(b), tc.msg)
		})
	}
	_, err := rawClient(t, s.Addr().String()).Handshake(context.Background(),
		&bridgev1.HandshakeRequest{ClientId: "after"})
	require.NoError(t, err, "native gRPC after bad Connect requests")
}
