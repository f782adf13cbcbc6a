// Package states holds the schema of the benchmark worker: the state machine
// every asyncmachine peer of the aRPC Bridge benchmark exposes to its clients.
//
// The schema is data only. Handlers live with the harness in the parent
// package; transports that need extra states of their own (upstream pkg/rpc
// needs its state-source states, our aRPC needs its worker states) merge them
// in with [Schema.Merge] and [am.SAdd] at setup time.
package states
