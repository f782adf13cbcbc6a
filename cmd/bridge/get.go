package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/arpcbridge/arpcbridge/bridge"
)

func newGetCmd(g *globalOpts) *cobra.Command {
	var o *clientOpts
	cmd := &cobra.Command{
		Use:   "get ADDR NAME",
		Short: "Read a value the server exposes (its getter)",
		Long: `get reads a named value from the server's getter and prints it: strings as
they are, other values as JSON. "bridge serve" exposes:

  id      the machine ID
  source  "demo" or the schema file served
  active  the active states
  uptime  time since the server started
  names   these names

Over gRPC the name "arpc.err" also gives the machine's last error (or null).
A name the server does not expose is bad input (exit code 2).`,
		Example: `  bridge get localhost:7420 active
  bridge get localhost:7420 uptime --json`,
		Args: exactArgs(2, "ADDR and NAME"),
		RunE: func(cmd *cobra.Command, pos []string) error {
			return o.get(cmd, pos[0], pos[1])
		},
	}
	o = addClientFlags(cmd, g)
	return cmd
}

func (o *clientOpts) get(cmd *cobra.Command, addr, name string) error {
	ctx := cmd.Context()
	r, err := o.connect(ctx, cmd, addr)
	if err != nil {
		return err
	}
	defer r.close()
	cctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	v, err := r.get(cctx, name)
	if errors.Is(err, bridge.ErrNotFound) {
		return &codeError{exitBadInput, fmt.Errorf(
			"%s does not expose %q (bridge serve exposes: %s)", addr, name,
			strings.Join(getterNames, ", "))}
	}
	if err != nil {
		return fmt.Errorf("get %q: %w", name, err)
	}
	if o.json {
		return printJSON(o.stdout, map[string]any{"name": name, "value": v})
	}
	if s, ok := v.(string); ok {
		_, err = fmt.Fprintln(o.stdout, s)
		return err
	}
	b, err := json.Marshal(v)
	if err != nil {
		_, err = fmt.Fprintf(o.stdout, "%v\n", v)
		return err
	}
	_, err = fmt.Fprintf(o.stdout, "%s\n", b)
	return err
}
