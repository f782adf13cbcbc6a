package arpc_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/arpc"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
)

// machine kinds the error setters meet
const (
	onServer = "server"
	onClient = "client"
	onMux    = "mux"
	onBare   = "bare"
)

func newErrMach(t *testing.T, kind string) *am.Machine {
	t.Helper()
	schemas := map[string]struct {
		schema am.Schema
		names  am.S
	}{
		onServer: {ss.ServerSchema, ss.ServerStates.Names()},
		onClient: {ss.ClientSchema, ss.ClientStates.Names()},
		onMux:    {ss.MuxSchema, ss.MuxStates.Names()},
		onBare: {am.Schema{am.StateException: {Multi: true}, "Foo": {}},
			am.S{am.StateException, "Foo"}},
	}
	s := schemas[kind]
	m, err := am.NewCommon(context.Background(), "err-"+kind, s.schema, s.names,
		nil, nil, &am.Opts{DontLogStackTrace: true})
	require.NoError(t, err)
	t.Cleanup(m.Dispose)
	return m
}

// timeoutErr is a net.Error that timed out.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o deadline" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestAddErrSetters(t *testing.T) {
	cause := errors.New("cause")
	tests := []struct {
		name  string
		on    string
		add   func(m *am.Machine)
		state string // the error state expected, "" for Exception only
		is    []error
		msg   string // a substring of Err()
	}{
		{"network", onServer, func(m *am.Machine) { arpc.AddErrNetwork(m, cause) },
			ss.SharedStates.ErrNetwork, []error{arpc.ErrNetwork, cause}, "cause"},
		{"network already wrapped", onClient, func(m *am.Machine) {
			arpc.AddErrNetwork(m, fmt.Errorf("%w: lost", arpc.ErrNetwork))
		}, ss.SharedStates.ErrNetwork, []error{arpc.ErrNetwork}, "network error: lost"},
		{"network on mux", onMux, func(m *am.Machine) { arpc.AddErrNetwork(m, cause) },
			ss.MuxStates.ErrNetwork, []error{arpc.ErrNetwork, cause}, "cause"},
		{"network nil err", onServer, func(m *am.Machine) { arpc.AddErrNetwork(m, nil) },
			ss.SharedStates.ErrNetwork, []error{arpc.ErrNetwork}, "network error"},
		{"no conn", onClient, func(m *am.Machine) { arpc.AddErrNoConn(m, cause) },
			ss.SharedStates.ErrNetwork, []error{arpc.ErrNoConn, cause}, "not connected"},
		{"params", onServer, func(m *am.Machine) { arpc.AddErrParams(m, cause) },
			ss.SharedStates.ErrRpc, []error{arpc.ErrInvalidParams, cause}, "invalid params"},
		{"resp", onClient, func(m *am.Machine) { arpc.AddErrResp(m, cause) },
			ss.SharedStates.ErrRpc, []error{arpc.ErrInvalidResp, cause}, "invalid response"},
		{"rpc str", onServer, func(m *am.Machine) { arpc.AddErrRpcStr(m, "bad frame") },
			ss.SharedStates.ErrRpc, []error{arpc.ErrRpc}, "rpc: bad frame"},
		{"rpc str empty", onServer, func(m *am.Machine) { arpc.AddErrRpcStr(m, "") },
			ss.SharedStates.ErrRpc, []error{arpc.ErrRpc}, "rpc"},
		// a machine without the error state gets Exception, never a panic
		{"params on bare", onBare, func(m *am.Machine) { arpc.AddErrParams(m, cause) },
			"", []error{arpc.ErrInvalidParams, cause}, "cause"},
		{"rpc str on mux", onMux, func(m *am.Machine) { arpc.AddErrRpcStr(m, "x") },
			"", []error{arpc.ErrRpc}, "rpc: x"},
		{"no conn on bare", onBare, func(m *am.Machine) { arpc.AddErrNoConn(m, cause) },
			"", []error{arpc.ErrNoConn}, "cause"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newErrMach(t, tt.on)
			tt.add(m)
			checkErrState(t, m, tt.state, tt.is, tt.msg)
		})
	}
}

func TestAddErrClassifies(t *testing.T) {
	boom := errors.New("boom")
	// text that a message matcher would misread: classification must not
	// depend on it
	trap := errors.New("gob: timeout: connection is shut down, unexpected EOF")
	opErr := &net.OpError{Op: "dial", Net: "tcp", Err: boom}
	tests := []struct {
		name  string
		on    string
		err   error
		state string
		is    []error
	}{
		{"timeout sentinel", onServer, fmt.Errorf("call: %w", arpc.ErrNetworkTimeout),
			ss.SharedStates.ErrNetworkTimeout, []error{arpc.ErrNetworkTimeout}},
		{"timeout without the state", onMux, arpc.ErrNetworkTimeout,
			ss.MuxStates.ErrNetwork, []error{arpc.ErrNetworkTimeout}},
		{"network", onClient, arpc.ErrNetwork,
			ss.SharedStates.ErrNetwork, []error{arpc.ErrNetwork}},
		{"no conn", onServer, arpc.ErrNoConn,
			ss.SharedStates.ErrNetwork, []error{arpc.ErrNoConn}},
		{"no access", onClient, arpc.ErrNoAccess,
			ss.ClientStates.ErrNoAccess, []error{arpc.ErrNoAccess}},
		{"busy", onClient, arpc.ErrBusy,
			ss.ClientStates.ErrNoAccess, []error{arpc.ErrBusy}},
		{"busy on server", onServer, arpc.ErrBusy, "", []error{arpc.ErrBusy}},
		{"schema", onClient, arpc.ErrSchemaMismatch,
			ss.ClientStates.ErrSchema, []error{arpc.ErrSchemaMismatch}},
		{"frame too large", onServer, arpc.ErrFrameTooLarge,
			ss.SharedStates.ErrRpc, []error{arpc.ErrRpc, arpc.ErrFrameTooLarge}},
		{"invalid params", onServer, arpc.ErrInvalidParams,
			ss.SharedStates.ErrRpc, []error{arpc.ErrInvalidParams}},
		{"invalid resp", onClient, arpc.ErrInvalidResp,
			ss.SharedStates.ErrRpc, []error{arpc.ErrInvalidResp}},
		{"worker gone", onServer, arpc.ErrWorkerGone,
			ss.SharedStates.ErrRpc, []error{arpc.ErrWorkerGone}},
		{"net.OpError", onClient, opErr,
			ss.SharedStates.ErrNetwork, []error{arpc.ErrNetwork, boom}},
		{"net timeout", onClient, fmt.Errorf("read: %w", timeoutErr{}),
			ss.SharedStates.ErrNetworkTimeout, []error{arpc.ErrNetworkTimeout}},
		{"os deadline", onServer, os.ErrDeadlineExceeded,
			ss.SharedStates.ErrNetworkTimeout,
			[]error{arpc.ErrNetworkTimeout, os.ErrDeadlineExceeded}},
		{"EOF", onServer, io.ErrUnexpectedEOF,
			ss.SharedStates.ErrNetwork, []error{arpc.ErrNetwork, io.ErrUnexpectedEOF}},
		{"closed", onMux, net.ErrClosed,
			ss.MuxStates.ErrNetwork, []error{arpc.ErrNetwork, net.ErrClosed}},
		{"other", onServer, boom, "", []error{boom}},
		{"message text is not a class", onClient, trap, "", []error{trap}},
		{"network on bare", onBare, arpc.ErrNetwork, "", []error{arpc.ErrNetwork}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newErrMach(t, tt.on)
			arpc.AddErr(m, "dialing", tt.err)
			checkErrState(t, m, tt.state, tt.is, "dialing: ")
			assert.True(t, strings.HasPrefix(m.Err().Error(), "dialing: ") ||
				strings.Contains(m.Err().Error(), ": dialing: "),
				"msg prefixes the error: %v", m.Err())
		})
	}
}

func TestAddErrEdgeCases(t *testing.T) {
	t.Run("nil err adds nothing", func(t *testing.T) {
		m := newErrMach(t, onServer)
		arpc.AddErr(m, "msg", nil)
		assert.False(t, m.IsErr())
		assert.NoError(t, m.Err())
	})
	t.Run("empty msg keeps the error as is", func(t *testing.T) {
		m := newErrMach(t, onServer)
		arpc.AddErr(m, "", arpc.ErrNoConn)
		assert.Equal(t, arpc.ErrNoConn, m.Err())
		assert.True(t, m.Is1(ss.SharedStates.ErrNetwork))
	})
	t.Run("nil machine", func(t *testing.T) {
		assert.NotPanics(t, func() {
			arpc.AddErr(nil, "x", arpc.ErrRpc)
			arpc.AddErrNetwork(nil, nil)
			arpc.AddErrNoConn(nil, nil)
			arpc.AddErrParams(nil, nil)
			arpc.AddErrResp(nil, nil)
			arpc.AddErrRpcStr(nil, "x")
		})
	})
	t.Run("disposed machine", func(t *testing.T) {
		m := newErrMach(t, onClient)
		m.Dispose()
		assert.NotPanics(t, func() {
			arpc.AddErr(m, "x", arpc.ErrNetwork)
			arpc.AddErrRpcStr(m, "x")
		})
	})
}

// checkErrState asserts m is in Exception, in state (when not empty) and in
// no other error state, with an Err() matching every sentinel of is and
// containing msg.
func checkErrState(t *testing.T, m *am.Machine, state string, is []error,
	msg string,
) {
	t.Helper()
	require.True(t, m.IsErr(), "Exception: %s", m.StringAll())
	for _, s := range m.ActiveStates(nil) {
		if s != am.StateException && strings.HasPrefix(s, "Err") && s != state {
			t.Errorf("unexpected error state %s", s)
		}
	}
	if state != "" {
		assert.True(t, m.Is1(state), "%s active: %s", state, m.StringAll())
	}
	err := m.Err()
	require.Error(t, err)
	for _, want := range is {
		assert.ErrorIs(t, err, want)
	}
	assert.Contains(t, err.Error(), msg)
}
