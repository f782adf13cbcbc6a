// Package faultproxy is a TCP proxy for integration tests that injects
// network faults between a client and a server.
//
// A [Proxy] listens on a loopback port and forwards every accepted
// connection to a target address. While traffic flows, a test can change
// the network's behaviour at any time and from any goroutine:
//
//   - [Proxy.CutAll] closes every current connection on both sides.
//   - [Proxy.CutEvery] keeps cutting all connections periodically.
//   - [Proxy.SetDelay] adds latency to each chunk in each direction.
//   - [Proxy.Blackhole] stalls all traffic without closing anything.
//   - [Proxy.Refuse] closes new connections as soon as they are accepted.
//   - [Proxy.SetTarget] redirects new connections, e.g. to a restarted
//     server on another port.
//
// [Proxy.Stats] reports byte and connection counters, which tests can poll
// to observe the proxy without sleeping.
//
// Every goroutine the proxy starts is owned by it and has exited when
// [Proxy.Close] returns, so the package is safe to use under goleak.
package faultproxy
