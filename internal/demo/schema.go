package demo

import (
	am "github.com/pancsta/asyncmachine-go/pkg/machine"
)

// State names of the demo machine.
const (
	Running   = "Running"
	Idle      = "Idle"
	JobQueued = "JobQueued"
	Working   = "Working"
	Done      = "Done"
	Failed    = "Failed"
	Retrying  = "Retrying"
)

// Schema returns the demo's states and relations, without Exception or any
// other state a host machine adds. Each call returns a fresh copy the caller
// may change.
func Schema() am.Schema {
	return am.Schema{
		Running: {},
		Idle: {
			Auto:    true,
			Require: am.S{Running},
		},
		JobQueued: {
			Multi:   true,
			Require: am.S{Running},
			Remove:  am.S{Idle},
		},
		Working: {
			Require: am.S{JobQueued},
			Remove:  am.S{Done, Failed, Retrying},
		},
		Done: {
			Remove: am.S{Working, Failed, Retrying},
			After:  am.S{Working},
		},
		Failed: {
			Remove: am.S{Working, Done},
			Add:    am.S{Retrying},
		},
		Retrying: {
			Require: am.S{Failed},
			After:   am.S{Failed},
		},
	}
}

// Names returns the demo's state names in index order. Each call returns a
// fresh slice.
func Names() am.S {
	return am.S{Running, Idle, JobQueued, Working, Done, Failed, Retrying}
}
