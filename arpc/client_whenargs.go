package arpc

import (
	"context"
	"fmt"
	"time"

	"github.com/cenkalti/rpc2"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/arpc/internal/wire"
)

// whenArgsWait is one open WhenArgs wait of a Client: registered on the
// server of every connection until it matches or its context ends.
type whenArgsWait struct {
	state int
	args  am.A
	ch    chan struct{}
}

// WhenArgs implements Transport. The wait is registered on the server and
// survives reconnects (it is registered again on each new connection); an
// activation that happened while the client was disconnected is not seen.
// The channel closes on a match or when ctx ends, never because a
// connection broke.
func (t transport) WhenArgs(ctx context.Context, state int, args am.A) (
	<-chan struct{}, error,
) {
	c := t.c
	if c.current() == nil {
		return nil, fmt.Errorf("%w: WhenArgs", ErrNoConn)
	}
	id := c.whenArgsId.Add(1)
	wait := &whenArgsWait{state: state, args: args, ch: make(chan struct{})}
	c.whenArgsMx.Lock()
	c.whenArgs[id] = wait
	c.whenArgsMx.Unlock()
	cctx, cancel := context.WithTimeout(ctx, t.Timeout())
	defer cancel()
	resp := &wire.RespErr{}
	err := c.call(cctx, wire.MWhenArgs, &wire.ArgsWhenArgs{Id: id, State: state,
		Args: args}, resp)
	if err == nil {
		err = fromWireErr(resp.Err)
	}
	if err != nil {
		c.whenArgsMx.Lock()
		delete(c.whenArgs, id)
		c.whenArgsMx.Unlock()
		return nil, err
	}
	context.AfterFunc(ctx, func() {
		if !c.whenArgsEnd(id) {
			return
		}
		if cc := c.current(); cc != nil {
			_ = cc.rc.Notify(wire.MWhenArgsX, &wire.ArgsWhenArgsDone{Id: id})
		}
	})
	return wait.ch, nil
}

// whenArgsEnd closes and forgets the wait id (matched on the server, or
// its context ended); false when it was already gone.
func (c *Client) whenArgsEnd(id uint64) bool {
	c.whenArgsMx.Lock()
	wait, ok := c.whenArgs[id]
	delete(c.whenArgs, id)
	c.whenArgsMx.Unlock()
	if ok {
		close(wait.ch)
	}
	return ok
}

// reregisterWhenArgs registers the open waits on the server of a new
// connection, before the client is Ready again (so a mutation made after
// Ready finds them in place). The calls are pipelined and bounded by
// CallTimeout together. A wait the new server refuses is reported to the
// remote worker and stays open until its context ends.
func (c *Client) reregisterWhenArgs(cc *clientConn) {
	c.whenArgsMx.Lock()
	regs := make([]*wire.ArgsWhenArgs, 0, len(c.whenArgs))
	for id, w := range c.whenArgs {
		regs = append(regs, &wire.ArgsWhenArgs{Id: id, State: w.state, Args: w.args})
	}
	c.whenArgsMx.Unlock()
	if len(regs) == 0 {
		return
	}
	calls := make([]*rpc2.Call, len(regs))
	resps := make([]wire.RespErr, len(regs))
	done := make(chan *rpc2.Call, len(regs))
	for i, a := range regs {
		calls[i] = cc.rc.Go(wire.MWhenArgs, a, &resps[i], done)
	}
	timeout := time.NewTimer(orDefault(c.CallTimeout, DefaultCallTimeout))
	defer timeout.Stop()
	for range calls {
		select {
		case <-done:
		case <-timeout.C:
			c.reportWhenArgsErr(fmt.Errorf("%w: WhenArgs on a new connection",
				ErrNetworkTimeout))
			return
		case <-c.ctx.Done():
			return
		}
	}
	for i, call := range calls {
		a := regs[i]
		err := wrapCallErr(wire.MWhenArgs, call.Error)
		if err == nil {
			err = fromWireErr(resps[i].Err)
		}
		if err != nil {
			c.reportWhenArgsErr(fmt.Errorf("WhenArgs %d on a new connection: %w",
				a.Id, err))
			continue
		}
		c.whenArgsMx.Lock()
		_, open := c.whenArgs[a.Id]
		c.whenArgsMx.Unlock()
		if !open {
			// it ended meanwhile: the new server must forget it too
			_ = cc.rc.Notify(wire.MWhenArgsX, &wire.ArgsWhenArgsDone{Id: a.Id})
		}
	}
}

func (c *Client) reportWhenArgsErr(err error) {
	if c.Worker != nil {
		c.Worker.reportErr(err)
	}
}
