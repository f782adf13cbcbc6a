// Command bridge serves an asyncmachine-go state machine over aRPC, gRPC and
// HTTP on one port, and talks to such a server: watch it, inspect it, mutate
// it. Run "bridge help" for the commands, flags, environment variables and
// exit codes; docs/cli.md has a walkthrough.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt,
		syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err))
}
