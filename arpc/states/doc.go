// Package states holds the schemas of aRPC's machines, as data: the worker
// states every exposed machine inherits, and the states of the Server,
// Client, Mux and payload Consumer machines.
//
// Each schema comes with a names struct (e.g. [ClientStates].Ready) so code
// never spells state names as strings, and an ordered name list via Names().
// Merge them with user schemas the asyncmachine way:
//
//	schema := am.SchemaMerge(states.WorkerSchema, am.Schema{"Foo": {}})
//	names := am.SAdd(states.WorkerStates.Names(), am.S{"Foo"})
package states
