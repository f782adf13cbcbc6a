package main

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleakOpts()...)
}

// goleakOpts ignores goroutines that outlive their owners by design in the
// libraries we drive, none of which we start ourselves.
func goleakOpts() []goleak.Option {
	return []goleak.Option{
		// grpc-go's resolver/balancer callback serializers and transport
		// reader end asynchronously after ClientConn.Close
		goleak.IgnoreAnyFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"),
	}
}

// testCtx is a per-test context bounded so no test can hang CI.
func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)

	return ctx
}
