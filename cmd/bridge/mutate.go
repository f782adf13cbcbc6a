package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/spf13/cobra"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
)

// mutation is one of the mutating commands.
type mutation struct {
	name  string
	typ   am.MutationType
	short string
}

var mutationCmds = []mutation{
	{"add", am.MutationAdd, "Activate states (Add)"},
	{"remove", am.MutationRemove, "Deactivate states (Remove)"},
	{"set", am.MutationSet, "Make exactly these states active (Set)"},
}

func newMutateCmd(g *globalOpts, m mutation) *cobra.Command {
	var args []string
	var o *clientOpts
	cmd := &cobra.Command{
		Use:   m.name + " ADDR STATE... [--arg key=value]...",
		Short: m.short + " on the machine at ADDR",
		Long: m.short + ` on the machine at ADDR and print the result:
Executed, Canceled (the machine's relations or handlers refused it) or Queued
(it runs after the transition in progress). The exit code tells them apart:
0 executed or queued, 3 canceled (see "bridge help" for all codes).

--arg passes arguments to the transition's handlers: key=value, where value
is read as an integer, a float, true/false, or else kept as a string (quote
it to force a string: --arg 'id="42"').`,
		Example: fmt.Sprintf(`  bridge %[1]s localhost:7420 JobQueued
  bridge %[1]s localhost:7420 Working Done --arg reason=manual --json
  bridge %[1]s --grpc localhost:7420 Idle
  bridge %[1]s --nats nats://127.0.0.1:4222 demo Idle  # MACHINE over NATS`, m.name),
		Args: func(_ *cobra.Command, pos []string) error {
			if len(pos) < 2 {
				return badInput("%s needs ADDR and at least one STATE", m.name)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, pos []string) error {
			margs, err := parseArgs(args)
			if err != nil {
				return err
			}
			return o.mutate(cmd, m, pos[0], pos[1:], margs)
		},
	}
	o = addClientFlags(cmd, g)
	cmd.Flags().StringArrayVar(&args, "arg", nil, "transition argument key=value (repeatable)")
	return cmd
}

// parseArgs turns key=value flags into mutation args.
func parseArgs(kvs []string) (am.A, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	out := am.A{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, badInput("--arg %q: want key=value", kv)
		}
		out[k] = argValue(v)
	}
	return out, nil
}

func argValue(v string) any {
	if i, err := strconv.ParseInt(v, 10, 64); err == nil {
		return i
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		return f
	}
	if b, err := strconv.ParseBool(v); err == nil && (v == "true" || v == "false") {
		return b
	}
	var s string
	if strings.HasPrefix(v, `"`) && json.Unmarshal([]byte(v), &s) == nil {
		return s
	}
	return v
}

// mutationOut is the JSON output of a mutation.
type mutationOut struct {
	Mutation  string   `json:"mutation"`
	States    []string `json:"states"`
	Result    string   `json:"result"`
	QueueTick uint64   `json:"queue_tick,omitempty"`
	Active    []string `json:"active"`
}

func (o *clientOpts) mutate(cmd *cobra.Command, m mutation, addr string,
	states []string, args am.A,
) error {
	ctx := cmd.Context()
	r, err := o.connect(ctx, cmd, addr)
	if err != nil {
		return err
	}
	defer r.close()
	if err := r.checkStates(states); err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	// the server's span of the mutation continues this one
	cctx, span := startSpan(cctx, "bridge "+m.name)
	span.SetAttributes(attribute.String("arpc.door", r.door),
		attribute.StringSlice("arpc.mutation.states", states))
	res, err := r.worker.Mutate(cctx, m.typ, states, args)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
	if err != nil {
		return err
	}
	out := mutationOut{Mutation: m.name, States: states,
		Active: userStates(r.worker.ActiveStates(nil))}
	switch {
	case res == am.Executed:
		out.Result = "executed"
	case res == am.Canceled:
		out.Result = "canceled"
	default:
		out.Result, out.QueueTick = "queued", uint64(res)
	}
	if o.json {
		err = printJSON(o.stdout, out)
	} else {
		line := strings.ToUpper(out.Result[:1]) + out.Result[1:]
		if out.QueueTick > 0 {
			line += fmt.Sprintf(" (queue tick %d)", out.QueueTick)
		}
		active := joinNames(out.Active)
		if active == "" {
			active = "none"
		}
		_, err = fmt.Fprintf(o.stdout, "%s: %s %s (active: %s)\n", line, m.name,
			strings.Join(states, " "), active)
	}
	if err != nil {
		return err
	}
	if res == am.Canceled {
		return &codeError{exitCanceled, fmt.Errorf("%s %s: canceled by the machine",
			m.name, strings.Join(states, " "))}
	}
	return nil
}
