package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/spf13/cobra"
)

func newWatchCmd(g *globalOpts) *cobra.Command {
	var o *clientOpts
	var count int
	var idle time.Duration
	cmd := &cobra.Command{
		Use:   "watch ADDR",
		Short: "Live view of the machine's states and ticks",
		Long: `watch connects to the machine served at ADDR and shows its states as they
change: on a terminal it redraws a table of states, ticks and the last
change; otherwise it prints one line per update ("+" activated,
"-" deactivated, "~" multi state ticked while active); with --json one
JSON object per update:

  {"time":"...","seq":42,"initial":false,"changed":{"Working":7},
   "active":["Running","JobQueued","Working"],"ticks":{"Running":1,...}}

Pushed updates are throttled by the server's --push-interval, so changes
between two pushes arrive merged. A lost connection (a server restart) is
re-established within --timeout and the view goes on from where it was; a
server that is not up yet is waited for as long.
watch ends on Ctrl-C (exit code 0), after --count updates (exit code 0),
when the connection is lost for longer than --timeout (exit code 4), or,
with --idle-timeout, when no update arrives for that long (exit code 6): on
a machine that changes only when clients change it, --count alone may wait
forever. The idle clock starts after the initial state and restarts with
each update; a reconnect does not restart it.`,
		Example: `  bridge watch localhost:7420
  bridge watch localhost:7420 --json | jq -c .changed
  bridge watch --grpc localhost:7420 --count 10
  bridge watch localhost:7420 --count 1 --idle-timeout 30s  # wait for one change
  bridge watch --nats nats://127.0.0.1:4222 demo  # over NATS (docs/nats.md)`,
		Args: exactArgs(1, "ADDR"),
		RunE: func(cmd *cobra.Command, pos []string) error {
			if count < 0 {
				return badInput("--count must not be negative")
			}
			if idle < 0 {
				return badInput("--idle-timeout must not be negative")
			}
			return o.watch(cmd, pos[0], count, idle)
		},
	}
	o = addClientFlags(cmd, g)
	o.reconnect = true
	cmd.Flags().IntVar(&count, "count", 0, "exit after this many updates after the initial state (0: until stopped)")
	cmd.Flags().DurationVar(&idle, "idle-timeout", 0, "exit with code 6 when no update arrives for this long (0: wait forever)")
	return cmd
}

// watchOut is one update of watch --json.
type watchOut struct {
	Time    time.Time         `json:"time"`
	Seq     uint64            `json:"seq"`
	Initial bool              `json:"initial"`
	Changed map[string]uint64 `json:"changed"`
	Active  []string          `json:"active"`
	Ticks   map[string]uint64 `json:"ticks"`
}

// watch shows the machine at addr until ctx ends, count updates (0: no
// limit) or, when idle is positive, no update for idle.
func (o *clientOpts) watch(cmd *cobra.Command, addr string, count int,
	idle time.Duration,
) error {
	ctx := cmd.Context()
	r, err := o.connect(ctx, cmd, addr)
	if err != nil {
		return err
	}
	defer r.close()
	w := r.worker
	view := &watchView{r: r, out: o.stdout, json: o.json,
		tty: !o.json && isTerminal(o.stdout)}
	last, seq := w.KnownClock()
	if err := view.show(nil, last, seq); err != nil {
		return err
	}
	// idleC stays nil (never ready) without --idle-timeout
	var idleC <-chan time.Time
	var idleT *time.Timer
	if idle > 0 {
		idleT = time.NewTimer(idle)
		defer idleT.Stop()
		idleC = idleT.C
	}
	for n := 0; count == 0 || n < count; n++ {
		wctx, cancel := context.WithCancel(ctx)
		changed := w.WhenQuery(func(c am.Clock) bool {
			for i, name := range r.names {
				if c[name] != last[i] {
					return true
				}
			}
			return false
		}, wctx)
		select {
		case <-changed:
			cancel()
		case <-r.lost:
			cancel()
			return errLost(addr, r.lostErr())
		case <-idleC:
			cancel()
			return &codeError{exitIdle, fmt.Errorf(
				"no update from %s for %s (--idle-timeout)", addr, idle)}
		case <-ctx.Done():
			cancel()
			return nil
		}
		now, seq := w.KnownClock()
		if err := view.show(last, now, seq); err != nil {
			return err
		}
		last = now
		if idleT != nil {
			idleT.Reset(idle)
		}
	}
	return nil
}

// watchView renders watch's updates.
type watchView struct {
	r       *remote
	out     io.Writer
	json    bool
	tty     bool
	updates int
}

// show renders the update from before (nil: the initial state) to now.
func (v *watchView) show(before, now am.Time, seq uint64) error {
	names := v.r.names
	ts := time.Now()
	if v.json {
		o := watchOut{Time: ts, Seq: seq, Initial: before == nil,
			Changed: map[string]uint64{}, Active: []string{},
			Ticks: map[string]uint64{}}
		for i, n := range names {
			o.Ticks[n] = now[i]
			if before != nil && before[i] != now[i] {
				o.Changed[n] = now[i]
			}
			if am.IsActiveTick(now[i]) && n != "SendPayload" {
				o.Active = append(o.Active, n)
			}
		}
		return printJSON(v.out, o)
	}
	if before != nil {
		v.updates++
	}
	if v.tty {
		return v.redraw(before, now, seq, ts)
	}
	var changes, active []string
	for i, n := range userStates(names) {
		i = indexOf(names, n, i)
		if before != nil && before[i] != now[i] {
			if mark := changeMark(before[i], now[i]); mark != "" {
				changes = append(changes, mark+n)
			}
		}
		if am.IsActiveTick(now[i]) {
			active = append(active, n)
		}
	}
	what := strings.Join(changes, " ")
	if before == nil {
		what = "initial"
	}
	_, err := fmt.Fprintf(v.out, "%s seq=%d %s active=%s\n",
		ts.Format("15:04:05.000"), seq, what, strings.Join(active, ","))
	return err
}

// redraw repaints the terminal with a table of all states.
func (v *watchView) redraw(before, now am.Time, seq uint64, ts time.Time,
) error {
	var b strings.Builder
	b.WriteString("\x1b[H\x1b[2J")
	fmt.Fprintf(&b, "%s at %s (%s)  seq %d  updates %d  %s  (Ctrl-C to quit)\n\n",
		v.r.worker.Id(), v.r.addr, v.r.door, seq, v.updates,
		ts.Format("15:04:05"))
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATE\tACTIVE\tTICK\tCHANGE")
	for i, n := range v.r.names {
		active, change := "", ""
		if am.IsActiveTick(now[i]) {
			active = "*"
		}
		if before != nil && before[i] != now[i] {
			change = changeMark(before[i], now[i])
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", n, active, now[i], change)
	}
	_ = tw.Flush()
	_, err := io.WriteString(v.out, b.String())
	return err
}

// changeMark is "+" for activated, "-" for deactivated, "~" for a state
// that ended where it was after ticking on (a multi state re-activated, or a
// blink), and "" for a tick that went back without changing the state: the
// server restarted and its clock started over, nothing happened to the
// state.
func changeMark(before, now uint64) string {
	switch a, b := am.IsActiveTick(before), am.IsActiveTick(now); {
	case !a && b:
		return "+"
	case a && !b:
		return "-"
	case now < before:
		return ""
	}
	return "~"
}

func indexOf(names am.S, name string, hint int) int {
	if hint < len(names) && names[hint] == name {
		return hint
	}
	for i, n := range names {
		if n == name {
			return i
		}
	}
	return -1
}
