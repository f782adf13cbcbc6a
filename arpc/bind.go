package arpc

import (
	"fmt"
	"sync"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	ss "github.com/arpcbridge/arpcbridge/arpc/states"
)

// BindServer mirrors two states of a Server's machine (source, i.e.
// Server.Mach) on target: rpcReady is added to target when source's
// RpcReady activates and removed when it ends, and clientConn likewise
// follows source's ClientConnected. States already active on source when
// BindServer is called are added to target at once.
//
// It returns an error wrapping ErrInvalidParams when a machine is nil, a
// state name is empty, source lacks the server states, or target lacks the
// given states. The binding lives as long as source (handlers bound with
// am's HandlersBindMaps); target's states are mutated from source's handler
// goroutine.
func BindServer(source, target *am.Machine, rpcReady, clientConn string,
) error {
	return bindServer(source, target, "arpc-bind-server", []bindRule{
		{from: ss.ServerStates.RpcReady, to: rpcReady, add: true},
		{from: ss.ServerStates.RpcReady, end: true, to: rpcReady},
		{from: ss.ServerStates.ClientConnected, to: clientConn, add: true},
		{from: ss.ServerStates.ClientConnected, end: true, to: clientConn},
	})
}

// BindServerMulti mirrors RpcReady of a Server's machine (source) on target's
// rpcReady, like BindServer, and reports connections as events: every
// activation of source's ClientConnected adds clientConn to target, every
// end of it adds clientDisconn. Both are meant to be multi states
// (am.State.Multi), so that each connection counts. A client already
// connected when BindServerMulti is called is reported at once. Errors are
// as in BindServer.
func BindServerMulti(
	source, target *am.Machine, rpcReady, clientConn, clientDisconn string,
) error {
	return bindServer(source, target, "arpc-bind-server-multi", []bindRule{
		{from: ss.ServerStates.RpcReady, to: rpcReady, add: true},
		{from: ss.ServerStates.RpcReady, end: true, to: rpcReady},
		{from: ss.ServerStates.ClientConnected, to: clientConn, add: true},
		{from: ss.ServerStates.ClientConnected, end: true, to: clientDisconn,
			add: true},
	})
}

// BindServerRpcReady adds rpcReady to target every time RpcReady of a
// Server's machine (source) activates, and at once when it is already
// active; it never removes it. rpcReady is meant to be a multi state
// (am.State.Multi). Errors are as in BindServer.
func BindServerRpcReady(source, target *am.Machine, rpcReady string) error {
	return bindServer(source, target, "arpc-bind-server-ready", []bindRule{
		{from: ss.ServerStates.RpcReady, to: rpcReady, add: true},
	})
}

// bindRule forwards one edge of a source state to a target state.
type bindRule struct {
	// from is the source state; end means its deactivation, otherwise its
	// activation
	from string
	end  bool
	// to is the target state, added when add is set, removed otherwise
	to  string
	add bool
}

// serverBinding forwards a server machine's changes to a target machine.
// Its lock orders the forwards of handlers and of the initial sync, and
// seen remembers the source tick each activation rule last forwarded, so
// an activation forwarded by the sync is not forwarded again by its handler.
type serverBinding struct {
	source, target *am.Machine

	mx   sync.Mutex
	seen map[string]uint64
}

func bindServer(source, target *am.Machine, id string, rules []bindRule,
) error {
	if source == nil || target == nil {
		return fmt.Errorf("%w: nil machine", ErrInvalidParams)
	}
	srcStates := am.S{ss.ServerStates.RpcReady, ss.ServerStates.ClientConnected}
	if !source.Has(srcStates) {
		return fmt.Errorf("%w: %s is not a server's machine (lacks %v)",
			ErrInvalidParams, source.Id(), srcStates)
	}
	for _, r := range rules {
		if r.to == "" {
			return fmt.Errorf("%w: empty target state", ErrInvalidParams)
		}
		if !target.Has1(r.to) {
			return fmt.Errorf("%w: %s has no state %s", ErrInvalidParams,
				target.Id(), r.to)
		}
	}

	b := &serverBinding{source: source, target: target,
		seen: map[string]uint64{}}
	finals := make(map[string]am.HandlerFinal, len(rules))
	for _, r := range rules {
		suffix := am.SuffixState
		if r.end {
			suffix = am.SuffixEnd
		}
		finals[r.from+suffix] = func(e *am.Event) { b.handle(e, r) }
	}
	if _, err := source.HandlersBindMaps(nil, finals,
		am.BindOpts{Id: id}); err != nil {
		return fmt.Errorf("%w: bind to %s: %w", ErrInvalidParams, source.Id(),
			err)
	}
	b.sync(rules)
	return nil
}

// handle forwards the source event e by rule r.
func (b *serverBinding) handle(e *am.Event, r bindRule) {
	tick := b.eventTick(e, r.from)
	b.mx.Lock()
	defer b.mx.Unlock()
	if !r.end && tick != 0 {
		if tick <= b.seen[r.from] {
			// already forwarded by sync
			return
		}
		b.seen[r.from] = tick
	}
	b.apply(e, r)
}

// sync forwards the activations of states already active on source.
func (b *serverBinding) sync(rules []bindRule) {
	b.mx.Lock()
	defer b.mx.Unlock()
	for _, r := range rules {
		if r.end {
			continue
		}
		tick := b.source.Tick(r.from)
		if !am.IsActiveTick(tick) || tick <= b.seen[r.from] {
			continue
		}
		b.seen[r.from] = tick
		b.apply(nil, r)
	}
}

func (b *serverBinding) apply(e *am.Event, r bindRule) {
	if r.add {
		b.target.EvAdd1(e, r.to, nil)
	} else {
		b.target.EvRemove1(e, r.to, nil)
	}
}

// eventTick returns the tick state has after the transition of e, 0 when it
// cannot tell.
func (b *serverBinding) eventTick(e *am.Event, state string) uint64 {
	if e == nil {
		return 0
	}
	tx := e.Transition()
	idx := b.source.Index1(state)
	if tx == nil || idx < 0 || idx >= len(tx.TimeAfter) {
		return 0
	}
	return tx.TimeAfter[idx]
}
