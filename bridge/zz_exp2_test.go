package bridge_test

import (
	"context"
	"testing"

	"github.com/arpcbridge/arpcbridge/bridge"
	bridgev1 "github.com/arpcbridge/arpcbridge/gen/arpc/bridge/v1"
)

func BenchmarkZZDirect(b *testing.B) {
	w := newWorker(b)
	svc, err := bridge.NewService(w, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	ctx := context.Background()
	req := &bridgev1.MutateRequest{ClientId: "bench",
		Type:         bridgev1.MutationType_MUTATION_TYPE_ADD,
		StateIndexes: []uint32{uint32(w.Index1("E"))}, MutationId: "x"}
	b.Run("add1", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			w.Add1("E", nil)
		}
	})
	b.Run("svc", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			req.MutationId = string(rune('a'+i%26)) + string(rune('a'+(i/26)%26)) + string(rune('a'+(i/676)%26))
			resp, err := svc.Mutate(ctx, req)
			if err != nil {
				b.Fatal(err)
			}
			req.KnownSeq = resp.Update.ToSeq
		}
	})
}
