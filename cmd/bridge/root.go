package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// envPrefix prefixes the environment variable of every flag: --push-interval
// is mirrored by BRIDGE_PUSH_INTERVAL.
const envPrefix = "BRIDGE_"

// DefaultAddr is where serve listens and what examples connect to.
const DefaultAddr = "localhost:7420"

// run runs the bridge command line: args without the program name. Output
// meant for people and scripts goes to stdout, diagnostics and errors to
// stderr. ctx ends on SIGINT/SIGTERM (see main). The error, if any, was
// already printed; exitCode maps it to the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(defaultToServe(root, args))
	shutdown, err := setupTracing(ctx, stderr)
	if err == nil {
		err = root.ExecuteContext(ctx)
		stopTracing(shutdown, stderr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "bridge: %v\n", err)
	}
	return err
}

// defaultToServe makes serve the default command: "bridge" alone and
// "bridge --schema x.yaml" run "bridge serve ...". Global flags (see
// globalFlags) may come before a command: "bridge --log-level debug inspect
// ADDR" runs inspect, "bridge --log-level debug" runs serve.
func defaultToServe(root *cobra.Command, args []string) []string {
	i := 0
	for i < len(args) {
		a := args[i]
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		takes, global := globalFlags[name]
		if !strings.HasPrefix(a, "--") || !global {
			break
		}
		i++
		if takes && !hasValue {
			i++ // the flag's value
		}
	}
	if i >= len(args) {
		if slices.Contains(args, "--version") {
			return args
		}
		return append([]string{"serve"}, args...)
	}
	first := args[i]
	switch {
	case first == "-h", first == "--help", first == "help",
		first == "completion", first == "__complete", first == "__completeNoDesc":
		return args
	case strings.HasPrefix(first, "-"):
		return append([]string{"serve"}, args...)
	}
	return args
}

// globalFlags are the root's flags, which may precede the command: whether
// each takes a value.
var globalFlags = map[string]bool{
	"log-level": true, "log-format": true, "version": false,
}

// globalOpts are the flags every command takes.
type globalOpts struct {
	logLevel  string
	logFormat string
	stdout    io.Writer
	stderr    io.Writer
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	g := &globalOpts{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "bridge",
		Short: "Serve an asyncmachine-go state machine over aRPC and gRPC, and talk to it",
		Long: `bridge serves one asyncmachine-go state machine on one port, to native aRPC
clients, to gRPC clients (arpc.bridge.v1.BridgeService, with health and
reflection) and to HTTP (/healthz, /metrics), and talks to such a server.

With no command, bridge runs "serve": an embedded demo machine that changes
state on its own, on ` + DefaultAddr + `. In another terminal:

  bridge watch ` + DefaultAddr + `          live view of states and ticks
  bridge add ` + DefaultAddr + ` JobQueued  queue a job in the demo

Client commands learn the machine's schema from the server (a gRPC Handshake
on the same port) unless given --schema FILE; see "bridge help watch".

Environment: every flag can be set with BRIDGE_<FLAG>, upper case with
dashes as underscores (--push-interval: BRIDGE_PUSH_INTERVAL). Flags win
over the environment.

` + otelHelp + `

` + exitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
		// reached only with an unknown command: no arguments run serve
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return badInput("unknown command %q (see \"bridge --help\")",
					args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return applyEnv(cmd.Flags())
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return badInput("%w (see --help)", err)
	})
	pf := root.PersistentFlags()
	pf.StringVar(&g.logLevel, "log-level", "info",
		"log level: debug, info, warn, error")
	pf.StringVar(&g.logFormat, "log-format", "text",
		"log format: text or json (logs go to stderr)")

	v := readVersion()
	root.Version = v.Version
	// the template is plain text: no {{ }} in what the build recorded
	root.SetVersionTemplate(strings.ReplaceAll(v.text(), "{{", "{ {"))
	root.Flags().Bool("version", false, "print the version (as \"bridge version\") and exit")
	root.AddCommand(newServeCmd(g), newWatchCmd(g), newInspectCmd(g),
		newGetCmd(g), newVersionCmd(g))
	for _, m := range mutationCmds {
		root.AddCommand(newMutateCmd(g, m))
	}
	return root
}

// applyEnv sets every flag not given on the command line from its
// environment variable, if set.
func applyEnv(fs *pflag.FlagSet) error {
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || f.Name == "help" {
			return
		}
		name := envName(f.Name)
		v, ok := os.LookupEnv(name)
		if !ok {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", name, v, err))
		}
	})
	if err := errors.Join(errs...); err != nil {
		return &codeError{exitBadInput, err}
	}
	return nil
}

func envName(flag string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// logger builds the logger the flags ask for, writing to stderr.
func (g *globalOpts) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, badInput("--log-level %q: want debug, info, warn or error",
			g.logLevel)
	}
	hopts := &slog.HandlerOptions{Level: level}
	switch g.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(g.stderr, hopts)), nil
	case "json":
		hopts.ReplaceAttr = durationString
		return slog.New(slog.NewJSONHandler(g.stderr, hopts)), nil
	}
	return nil, badInput("--log-format %q: want text or json", g.logFormat)
}

// durationString writes durations in JSON logs as text logs write them,
// Go's duration strings ("1.5ms", "2m3s"), not as integer nanoseconds.
func durationString(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	return a
}
