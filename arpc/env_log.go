package arpc

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
)

// Environment variables that turn on the state-machine log of aRPC's own
// machines (Server.Mach, Client.Mach, Mux.Mach). They are read once, when the
// component is created. An empty value, "0" or "false" leaves logging off;
// any other value turns it on at am.LogChanges, and a number from 2 to 5
// picks that am.LogLevel instead (3 is am.LogOps, 5 am.LogEverything).
//
// The log goes to the component's Logger (ServerOpts.Logger,
// ClientOpts.Logger, MuxOpts.Logger) at slog.LevelInfo, or to
// slog.Default() when none was given: the machine itself never prints.
const (
	// EnvAmRpcLogServer enables the machine log of every new Server.
	EnvAmRpcLogServer = "AM_RPC_LOG_SERVER"
	// EnvAmRpcLogClient enables the machine log of every new Client.
	EnvAmRpcLogClient = "AM_RPC_LOG_CLIENT"
)

// EnvAmRpcLogMux enables the machine log of every new Mux (see
// EnvAmRpcLogServer for the values).
const EnvAmRpcLogMux = "AM_RPC_LOG_MUX"

// envLogLevel reads the log level the environment variable env asks for;
// am.LogNothing when it asks for none.
func envLogLevel(env string) am.LogLevel {
	v := strings.TrimSpace(os.Getenv(env))
	if v == "" || v == "0" || strings.EqualFold(v, "false") {
		return am.LogNothing
	}
	if n, err := strconv.Atoi(v); err == nil && n > int(am.LogChanges) {
		return min(am.LogLevel(n), am.LogEverything)
	}
	return am.LogChanges
}

// logMachFromEnv turns on mach's log when the environment variable env
// asks for it, routing the entries to logger (slog.Default() when nil).
// Called once by the constructors, before the machine is used.
func logMachFromEnv(mach *am.Machine, env string, logger *slog.Logger) {
	lvl := envLogLevel(env)
	if mach == nil || lvl == am.LogNothing {
		return
	}
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("mach", mach.Id())
	sem := mach.SemLogger()
	sem.SetLogger(func(level am.LogLevel, msg string, args ...any) {
		logger.Log(context.Background(), slog.LevelInfo,
			fmt.Sprintf(msg, args...), "am_level", level.String())
	})
	// show aRPC's typed args next to the ones am already knows
	prev := sem.ArgsMapper()
	sem.SetArgsMapper(func(args am.A) map[string]string {
		var out map[string]string
		if prev != nil {
			out = prev(args)
		}
		for k, v := range LogArgs(args) {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
		return out
	})
	sem.SetLevel(lvl)
}
