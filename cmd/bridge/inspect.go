package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/spf13/cobra"
)

func newInspectCmd(g *globalOpts) *cobra.Command {
	var o *clientOpts
	cmd := &cobra.Command{
		Use:   "inspect ADDR",
		Short: "Print the machine's schema, relations and time",
		Long: `inspect prints the machine served at ADDR: its ID, each state in index order
with whether it is active, its tick (the number of activations and
deactivations; odd means active) and its relations, and the engine sequence
the snapshot belongs to.`,
		Example: `  bridge inspect localhost:7420
  bridge inspect localhost:7420 --json | jq '.states[] | select(.active)'`,
		Args: exactArgs(1, "ADDR"),
		RunE: func(cmd *cobra.Command, pos []string) error {
			return o.inspect(cmd, pos[0])
		},
	}
	o = addClientFlags(cmd, g)
	return cmd
}

// exactArgs is cobra.ExactArgs with a bad-input error naming the arguments.
func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return badInput("%s needs %s (got %d arguments)", cmd.Name(), names,
				len(args))
		}
		return nil
	}
}

// stateOut is one state in inspect's JSON output.
type stateOut struct {
	Index   int      `json:"index"`
	Name    string   `json:"name"`
	Active  bool     `json:"active"`
	Tick    uint64   `json:"tick"`
	Auto    bool     `json:"auto,omitempty"`
	Multi   bool     `json:"multi,omitempty"`
	Require []string `json:"require,omitempty"`
	Add     []string `json:"add,omitempty"`
	Remove  []string `json:"remove,omitempty"`
	After   []string `json:"after,omitempty"`
	Tags    []string `json:"tags,omitempty"`
}

type inspectOut struct {
	Addr      string     `json:"addr"`
	Door      string     `json:"door"`
	Machine   string     `json:"machine"`
	Seq       uint64     `json:"seq"`
	QueueTick uint64     `json:"queue_tick"`
	Active    []string   `json:"active"`
	States    []stateOut `json:"states"`
}

func (o *clientOpts) inspect(cmd *cobra.Command, addr string) error {
	r, err := o.connect(cmd.Context(), cmd, addr)
	if err != nil {
		return err
	}
	defer r.close()
	w := r.worker
	t := w.Time(nil)
	_, seq := w.KnownClock()
	out := inspectOut{Addr: addr, Door: r.door, Machine: w.Id(), Seq: seq,
		QueueTick: w.QueueTick(), Active: userStates(w.ActiveStates(nil))}
	for i, n := range r.names {
		st := r.schema[n]
		out.States = append(out.States, stateOut{Index: i, Name: n,
			Active: am.IsActiveTick(t[i]), Tick: t[i], Auto: st.Auto,
			Multi: st.Multi, Require: st.Require, Add: st.Add, Remove: st.Remove,
			After: st.After, Tags: st.Tags})
	}
	if o.json {
		return printJSON(o.stdout, out)
	}
	fmt.Fprintf(o.stdout, "machine %s at %s (%s), seq %d, %d states\n\n",
		out.Machine, addr, r.door, seq, len(out.States))
	tw := tabwriter.NewWriter(o.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tSTATE\tACTIVE\tTICK\tRELATIONS")
	for _, s := range out.States {
		active := ""
		if s.Active {
			active = "*"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\n", s.Index, s.Name, active, s.Tick,
			relations(s))
	}
	return tw.Flush()
}

// relations formats a state's flags and relations on one line.
func relations(s stateOut) string {
	var parts []string
	if s.Auto {
		parts = append(parts, "auto")
	}
	if s.Multi {
		parts = append(parts, "multi")
	}
	for _, rel := range []struct {
		name  string
		names []string
	}{{"require", s.Require}, {"add", s.Add}, {"remove", s.Remove},
		{"after", s.After}, {"tags", s.Tags}} {
		if len(rel.names) > 0 {
			parts = append(parts, rel.name+" "+strings.Join(rel.names, ","))
		}
	}
	return strings.Join(parts, "; ")
}
