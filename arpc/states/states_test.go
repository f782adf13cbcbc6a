package states_test

import (
	"context"
	"testing"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/arpc/states"
)

func TestSchemasBuildMachines(t *testing.T) {
	tests := []struct {
		name   string
		schema am.Schema
		names  am.S
	}{
		{"worker", states.WorkerSchema, states.WorkerStates.Names()},
		{"consumer", states.ConsumerSchema, states.ConsumerStates.Names()},
		{"server", states.ServerSchema, states.ServerStates.Names()},
		{"client", states.ClientSchema, states.ClientStates.Names()},
		{"mux", states.MuxSchema, states.MuxStates.Names()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.schema.Parse()
			require.NoError(t, err)
			require.ElementsMatch(t, tt.schema.Names(), tt.names)
			m := am.New(context.Background(), tt.schema, nil)
			defer m.Dispose()
			require.NoError(t, m.VerifyStates(tt.names))
		})
	}
}

func TestWorkerSchemaMerges(t *testing.T) {
	schema := am.SchemaMerge(states.WorkerSchema, am.Schema{
		"Foo": {Require: am.S{"Bar"}},
		"Bar": {},
	})
	names := am.SAdd(states.WorkerStates.Names(), am.S{"Foo", "Bar"})
	m := am.New(context.Background(), schema, nil)
	defer m.Dispose()
	require.NoError(t, m.VerifyStates(names))
	m.Add(am.S{"Foo", "Bar"}, nil)
	require.True(t, m.Is(am.S{"Foo", "Bar"}))
}
