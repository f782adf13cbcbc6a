package arpc_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/arpc/states"
)

// Serve a worker and use it from a client: mutations are remote, reads and
// waits are local.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// a worker: any machine with the worker states merged in
	schema := am.SchemaMerge(states.WorkerSchema, am.Schema{
		"Foo": {Require: am.S{"Bar"}},
		"Bar": {},
	})
	names := am.SAdd(states.WorkerStates.Names(), am.S{"Foo", "Bar"})
	worker, _ := am.NewCommon(ctx, "worker", schema, names, nil, nil, nil)
	defer worker.Dispose()

	s, _ := arpc.NewServer(ctx, "127.0.0.1:0", "worker", worker, nil)
	s.Start()
	<-s.Mach.When1(states.ServerStates.RpcReady, ctx)
	defer s.Stop(true)

	c, _ := arpc.NewClient(ctx, s.Addr, "client", schema, names, nil)
	c.Start()
	<-c.Mach.When1(states.ClientStates.Ready, ctx)
	defer c.Stop(ctx, true)

	fmt.Println(c.Worker.Add1("Foo", nil))             // Require fails
	fmt.Println(c.Worker.Add(am.S{"Foo", "Bar"}, nil)) // remote
	fmt.Println(c.Worker.Is1("Foo"))                   // local

	// a worker-side change reaches the client's replica
	worker.Remove1("Bar", nil)
	<-c.Worker.WhenNot1("Foo", ctx)
	fmt.Println(c.Worker.StringAll())

	// Output:
	// canceled
	// executed
	// true
	// () [Exception:0 SendPayload:0 Foo:2 Bar:2]
}

func ExampleNewClockMsg() {
	before := am.Time{0, 100, 0, 120}
	after := am.Time{0, 101, 0, 122}
	msg := arpc.NewClockMsg(before, after)
	fmt.Println(msg)
	fmt.Println(arpc.ClockFromMsg(before, msg))
	// Output:
	// [[1 1] [3 2]]
	// 0 101 0 122
}

// Pick the encoding of user values and the compression of a connection:
// the client asks, the server follows (Server.Compression can refuse or
// override compression). With msgpack, scalar args arrive as sent and other
// values by their shape.
func ExampleClientOpts() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	schema := am.SchemaMerge(states.WorkerSchema, am.Schema{"Foo": {}})
	names := am.SAdd(states.WorkerStates.Names(), am.S{"Foo"})
	worker, _ := am.NewCommon(ctx, "worker", schema, names, nil, nil, nil)
	defer worker.Dispose()
	h := &fooHandlers{got: make(chan am.A, 1)}
	_, _ = worker.BindHandlers(h)

	report := strings.Repeat("state Foo changed at tick 1\n", 10_000)
	s, _ := arpc.NewServer(ctx, "127.0.0.1:0", "worker", worker, nil)
	s.Getter = func(name string) any { return report }
	s.Start()
	<-s.Mach.When1(states.ServerStates.RpcReady, ctx)
	defer s.Stop(true)

	c, _ := arpc.NewClient(ctx, s.Addr, "client", schema, names,
		&arpc.ClientOpts{
			Encoding:    arpc.EncodingMsgpack,
			Compression: arpc.CompressionZstd,
		})
	c.Start()
	<-c.Mach.When1(states.ClientStates.Ready, ctx)
	defer c.Stop(ctx, true)
	st := c.Stats()
	fmt.Println(st.Encoding, st.Compression)

	c.Worker.Add1("Foo", am.A{"n": 42, "tags": []string{"a", "b"}})
	args := <-h.got
	fmt.Printf("%T %T\n", args["n"], args["tags"])

	before := c.Stats().BytesIn
	v, _ := c.Get(ctx, "report")
	fmt.Println(len(v.(string)), "bytes in", c.Stats().BytesIn-before < 4096)

	// Output:
	// msgpack zstd
	// int []interface {}
	// 280000 bytes in true
}

// fooHandlers hands the args of Foo's activations to the example.
type fooHandlers struct{ got chan am.A }

func (h *fooHandlers) FooState(e *am.Event) { h.got <- e.Args }
