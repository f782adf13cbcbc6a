package main

import (
	"errors"
	"log/slog"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/bridge/store"
)

// checkState validates the --state flags.
func (o *serveOpts) checkState() (store.SyncMode, error) {
	mode, err := store.ParseSyncMode(o.sync)
	if err != nil {
		return 0, badInput("--sync: %w", err)
	}
	if o.syncDelay <= 0 {
		return 0, badInput("--sync-delay must be positive")
	}
	if o.state == "" && o.stateReset {
		return 0, badInput("--state-reset needs --state")
	}
	return mode, nil
}

// openState opens the state file and restores mach from it.
func (o *serveOpts) openState(mach *am.Machine, mode store.SyncMode,
	log *slog.Logger,
) (*store.Store, error) {
	st, err := store.Open(o.state, &store.Options{Sync: mode,
		BatchDelay: o.syncDelay, Reset: o.stateReset, Logger: log})
	if err != nil {
		return nil, err
	}
	if err := st.Attach(mach); err != nil {
		_ = st.Close()
		if errors.Is(err, store.ErrSchemaChanged) {
			return nil, badInput("%w", err)
		}
		return nil, err
	}
	info := st.Info()
	if info.Restored {
		log.Info("state restored", "file", o.state, "seq", info.Seq,
			"active", am.S(mach.ActiveStates(nil)), "ticks", mach.Time(nil).Sum(nil),
			"window", info.Records, "sync", mode.String())
	} else {
		log.Info("state file created", "file", o.state, "sync", mode.String())
	}
	return st, nil
}
