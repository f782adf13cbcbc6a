// Package store makes a served machine durable: a state file (bbolt) holds
// the machine's time (every state's tick, so its active states and multi
// counts), its clock engine's epoch and sequence, and the exactly-once window
// of its mutations (door.Dedup), written on every accepted transition.
//
// A Store is opened on a file (Open), attached to a fresh machine before it
// is served (Store.Attach, or bridge.ServerOpts.Store), and closed after the
// server stopped (Store.Close). Attach restores the stored time into the
// machine, starts the machine's engine at the stored epoch and sequence (so
// clients of the previous process resume with a diff) and refills the
// exactly-once window (so a mutation retried across a restart is applied
// once). A file written for another schema is refused (ErrSchemaChanged)
// unless Options.Reset.
//
// Sync modes: SyncAlways commits (fsync) before a mutation's reply is sent,
// grouping the mutations that arrive meanwhile into one commit; SyncBatch
// commits at most Options.BatchDelay after a change, so a crash loses at
// most that window of acknowledged mutations. Transitions that no client
// asked for (the machine's own) are written in the next commit in both
// modes. docs/durability.md describes the guarantees and the file.
//
// While the file cannot be written (disk full, I/O error), mutations on both
// doors are refused with an error wrapping arpc.ErrNotDurable before they
// run; reads, waits and pushes go on, and the store retries in the
// background, accepting mutations again after a successful commit.
package store
