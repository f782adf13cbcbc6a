package arpc_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/arpcbridge/arpcbridge/arpc"
)

func TestGetKind(t *testing.T) {
	tests := []struct {
		name string
		got  arpc.Kind
		want arpc.Kind
		str  string
	}{
		{"client", (&arpc.Client{}).GetKind(), arpc.KindClient, "client"},
		{"server", (&arpc.Server{}).GetKind(), arpc.KindServer, "server"},
		{"nil client", (*arpc.Client)(nil).GetKind(), arpc.KindClient, "client"},
		{"nil server", (*arpc.Server)(nil).GetKind(), arpc.KindServer, "server"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.got)
			assert.Equal(t, tt.str, string(tt.got))
		})
	}
}
