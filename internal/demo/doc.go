// Package demo is the machine aRPC Bridge serves when given no schema file:
// a job worker that keeps changing state on its own, so a client connected
// over RPC has something to watch and to poke at.
//
// [Schema] defines the worker's states and [Names] orders them; a caller
// merges both with its own states (RPC worker states, Exception) before
// building the machine. [Run] then drives that machine: it queues jobs,
// starts them, and finishes each with Done or, now and then, Failed followed
// by a retry. Every relation type is in use:
//
//	Running    the demo is running; Run adds it at start, removes it at exit
//	Idle       auto; no job queued (requires Running)
//	JobQueued  multi; one activation per queued job (requires Running,
//	           removes Idle)
//	Working    a job is running (requires JobQueued; removes Done, Failed,
//	           Retrying)
//	Done       the last job finished (removes Working, Failed, Retrying;
//	           after Working)
//	Failed     the last job failed (removes Working, Done; adds Retrying)
//	Retrying   a failed job will run again (requires Failed; after Failed)
//
// Working is never active together with Done or Failed, and removing Running
// deactivates every state that depends on it. Clients may mutate the states
// too: Run reads the machine before every move and adapts, and queued jobs
// are counted by handlers, so a JobQueued added over RPC is a real job.
package demo
