package main

import (
	"fmt"
	"net"
	"testing"
)

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestNATS: serve --nats-embedded publishes the demo machine; watch, add,
// remove and set --nats reach it through NATS only.
func TestNATS(t *testing.T) {
	url := fmt.Sprintf("nats://127.0.0.1:%d", freePort(t))
	startServer(t, nil, "--nats-embedded", url[len("nats://"):],
		"--nats-dir", t.TempDir(), "--demo-interval", "20ms")

	cli(t, nil, "watch", "--nats", url, "demo", "--count", "2").want(t, 0,
		"initial", "seq=")
	cli(t, nil, "watch", "--nats", url, "demo", "--count", "1", "--json").
		want(t, 0, `"initial":true`, `"ticks":`)
	// the demo's Running is required by the rest; removing it always runs
	cli(t, nil, "remove", "--nats", url, "demo", "Running").want(t, 0,
		"Executed: remove Running")
	cli(t, nil, "add", "--nats", url, "demo", "Running").want(t, 0,
		"Executed: add Running")
	cli(t, nil, "set", "--nats", url, "demo", "Running", "--json").want(t, 0,
		`"result":"executed"`)
	cli(t, nil, "add", "--nats", url, "demo", "Nope").want(t, 2,
		`unknown state "Nope"`)
	cli(t, nil, "add", "--nats", url, "other", "Running", "--timeout",
		"300ms").want(t, 4, `machine "other" is not published`)
	cli(t, nil, "add", "--nats", url, "a.b", "Running").want(t, 2,
		"machine ID unusable")
}
