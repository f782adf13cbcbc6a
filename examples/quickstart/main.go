// Command quickstart serves a machine on one port and uses it from Go over
// both doors, aRPC and gRPC. README.md's "Use it from Go" shows this file;
// a test keeps the two equal and runs it.
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/arpc/states"
	"github.com/arpcbridge/arpcbridge/bridge"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, out io.Writer) error {
	// the worker: any machine with the worker states merged in
	schema := am.SchemaMerge(states.WorkerSchema, am.Schema{
		"Foo": {Require: am.S{"Bar"}},
		"Bar": {},
	})
	names := am.SAdd(states.WorkerStates.Names(), am.S{"Foo", "Bar"})
	worker, err := am.NewCommon(ctx, "worker", schema, names, nil, nil, nil)
	if err != nil {
		return err
	}
	defer worker.Dispose()

	// one port for aRPC, gRPC and HTTP (/healthz, /metrics)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv, err := bridge.NewServer(ctx, l, "worker", worker, nil)
	if err != nil {
		return err
	}
	go srv.Serve()
	defer srv.Shutdown(context.Background())
	addr := srv.Addr().String()

	// native aRPC ...
	c, err := arpc.NewClient(ctx, addr, "client", schema, names, nil)
	if err != nil {
		return err
	}
	c.Start()
	defer c.Stop(context.Background(), true)
	<-c.Mach.When1(states.ClientStates.Ready, ctx)

	fmt.Fprintln(out, c.Worker.Add1("Foo", nil))             // canceled: Foo requires Bar
	fmt.Fprintln(out, c.Worker.Add(am.S{"Foo", "Bar"}, nil)) // executed, remotely
	fmt.Fprintln(out, c.Worker.Is1("Foo"))                   // true, answered locally

	// ... or gRPC: the same remote worker, *arpc.Worker
	g, err := bridge.Dial(ctx, addr, "g", schema, names, nil)
	if err != nil {
		return err
	}
	defer g.Close()
	fmt.Fprintln(out, g.Worker.Remove1("Bar", nil)) // executed
	<-c.Worker.WhenNot1("Foo", ctx)                 // the aRPC replica follows
	fmt.Fprintln(out, c.Worker.ActiveStates(nil))
	return ctx.Err()
}
