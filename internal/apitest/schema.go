package apitest

import (
	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	ss "github.com/arpcbridge/arpcbridge/arpc/states"
)

// Schema exercises every relation: Require, Remove, Add, Multi, Auto, and
// an error state.
var Schema = am.SchemaMerge(ss.WorkerSchema, am.Schema{
	"A":    {Add: am.S{"B"}},
	"B":    {},
	"C":    {Require: am.S{"B"}},
	"D":    {Remove: am.S{"A"}},
	"E":    {Multi: true},
	"F":    {Auto: true, Require: am.S{"D"}},
	"G":    {Remove: am.S{"H"}},
	"H":    {Remove: am.S{"G"}},
	"Err1": {Require: am.S{am.StateException}},
})

// Names are Schema's ordered state names.
var Names = am.SAdd(ss.WorkerStates.Names(),
	am.S{"A", "B", "C", "D", "E", "F", "G", "H", "Err1"})
