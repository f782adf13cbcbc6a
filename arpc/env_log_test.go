package arpc_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/arpc"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
)

// syncBuf is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuf struct {
	mx  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuf) Write(p []byte) (int, error) {
	b.mx.Lock()
	defer b.mx.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuf) String() string {
	b.mx.Lock()
	defer b.mx.Unlock()
	return b.buf.String()
}

// envLogComponent creates one aRPC component with logger and returns its
// machine.
type envLogComponent func(t *testing.T, ctx context.Context,
	logger *slog.Logger) *am.Machine

var envLogComponents = []struct {
	name string
	env  string
	make envLogComponent
}{
	{"server", arpc.EnvAmRpcLogServer, func(t *testing.T, ctx context.Context,
		logger *slog.Logger,
	) *am.Machine {
		w := newWorker(t, ctx)
		s, err := arpc.NewServer(ctx, "127.0.0.1:0", "envlog", w,
			&arpc.ServerOpts{Logger: logger})
		require.NoError(t, err)
		t.Cleanup(func() { s.Stop(true) })
		return s.Mach
	}},
	{"client", arpc.EnvAmRpcLogClient, func(t *testing.T, ctx context.Context,
		logger *slog.Logger,
	) *am.Machine {
		c, err := arpc.NewClient(ctx, "127.0.0.1:1", "envlog", testSchema,
			testNames, &arpc.ClientOpts{Logger: logger})
		require.NoError(t, err)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c.Stop(ctx, true)
		})
		return c.Mach
	}},
	{"mux", arpc.EnvAmRpcLogMux, func(t *testing.T, ctx context.Context,
		logger *slog.Logger,
	) *am.Machine {
		m, err := arpc.NewMux(ctx, "envlog",
			func(int, net.Conn) (*arpc.Server, error) { return nil, nil },
			&arpc.MuxOpts{Logger: logger})
		require.NoError(t, err)
		t.Cleanup(func() { m.Stop(true) })
		return m.Mach
	}},
}

func TestEnvLogEnablesMachineLog(t *testing.T) {
	values := []struct {
		value string
		want  am.LogLevel
	}{
		{"", am.LogNothing},
		{"0", am.LogNothing},
		{"false", am.LogNothing},
		{"FALSE", am.LogNothing},
		{"1", am.LogChanges},
		{"true", am.LogChanges},
		{"yes", am.LogChanges},
		{"3", am.LogOps},
		{"99", am.LogEverything},
	}
	for _, comp := range envLogComponents {
		for _, v := range values {
			t.Run(comp.name+"/"+v.value, func(t *testing.T) {
				t.Setenv(comp.env, v.value)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				buf := &syncBuf{}
				logger := slog.New(slog.NewTextHandler(buf, nil))
				mach := comp.make(t, ctx, logger)

				assert.Equal(t, v.want, mach.SemLogger().Level())
				// Start exists in the server, client and mux schemas
				mach.Add1(ss.SharedStates.Start, arpc.Pass(&arpc.A{Addr: "x:1"}))
				out := buf.String()
				if v.want == am.LogNothing {
					assert.Empty(t, out, "logging off: nothing logged")
					return
				}
				assert.Contains(t, out, ss.SharedStates.Start)
				assert.Contains(t, out, "mach="+mach.Id())
				assert.Contains(t, out, "level=INFO")
			})
		}
	}
}

// The variable of one component leaves the others' logs off.
func TestEnvLogIsPerComponent(t *testing.T) {
	t.Setenv(arpc.EnvAmRpcLogServer, "1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	buf := &syncBuf{}
	logger := slog.New(slog.NewTextHandler(buf, nil))
	for _, comp := range envLogComponents {
		mach := comp.make(t, ctx, logger)
		want := am.LogNothing
		if comp.env == arpc.EnvAmRpcLogServer {
			want = am.LogChanges
		}
		assert.Equal(t, want, mach.SemLogger().Level(), comp.name)
	}
	assert.False(t, strings.Contains(buf.String(), "rc-envlog"),
		"client logged: %s", buf.String())
}
