package bridge_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"

	"google.golang.org/protobuf/proto"

	bridgev1 "github.com/arpcbridge/arpcbridge/gen/arpc/bridge/v1"
)

// curlMutate is the README's curl request: a Connect JSON Mutate.
const curlMutate = `{"client_id":"c","type":"MUTATION_TYPE_ADD","states":["E"]}`

// BenchmarkMutateConnect compares one Mutate (Add of a multi state, the
// reply carrying the full clock, as curl's does) over native gRPC with the
// same call over Connect JSON, Connect binary and gRPC-Web, each on a kept
// connection (HTTP/1.1 or h2c) to the same port:
//
//	go test -run '^$' -bench MutateConnect -benchmem ./bridge/
func BenchmarkMutateConnect(b *testing.B) {
	w := newWorker(b)
	s := startServer(b, w, nil)
	base := "http://" + s.Addr().String() + svcPath + "Mutate"
	ctx := context.Background()

	b.Run("grpc", func(b *testing.B) {
		rpc := rawClient(b, s.Addr().String())
		req := &bridgev1.MutateRequest{ClientId: "c",
			Type:   bridgev1.MutationType_MUTATION_TYPE_ADD,
			States: []string{"E"}}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := rpc.Mutate(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	protoBody, err := proto.Marshal(&bridgev1.MutateRequest{ClientId: "c",
		Type: bridgev1.MutationType_MUTATION_TYPE_ADD, States: []string{"E"}})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name, client, ctype string
		body                []byte
	}{
		{"connect-json/http1", "http1", "application/json", []byte(curlMutate)},
		{"connect-json/h2c", "h2c", "application/json", []byte(curlMutate)},
		{"connect-proto/http1", "http1", "application/proto", protoBody},
		{"grpc-web-proto/http1", "http1", "application/grpc-web+proto",
			envelope(0, protoBody)},
	} {
		b.Run(c.name, func(b *testing.B) {
			hc := benchClients(b)[c.client]
			b.ReportAllocs()
			for b.Loop() {
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, base,
					bytes.NewReader(c.body))
				if err != nil {
					b.Fatal(err)
				}
				req.Header.Set("Content-Type", c.ctype)
				res, err := hc.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, res.Body)
				_ = res.Body.Close()
				if res.StatusCode != http.StatusOK {
					b.Fatal(res.Status)
				}
			}
		})
	}
}
