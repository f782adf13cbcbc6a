package natsbus_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/bridge/natsbus"
	bridgev1 "github.com/arpcbridge/arpcbridge/gen/arpc/bridge/v1"
)

func sampleSnapshot() *natsbus.Snapshot {
	return &natsbus.Snapshot{
		Update: &bridgev1.ClockUpdate{ToSeq: 9, Full: true, Sum: 5,
			Indexes: []uint32{1, 3}, Deltas: []uint64{2, 3}},
		StreamSeq: 41, Epoch: "abc", StateNames: []string{"A", "B"},
		SchemaHash: "h", Schema: &bridgev1.Schema{States: []*bridgev1.
				StateSchema{{Name: "A", Multi: true}, {Name: "B"}}},
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		snap *natsbus.Snapshot
	}{
		{"full", sampleSnapshot()},
		{"no schema", func() *natsbus.Snapshot {
			s := sampleSnapshot()
			s.Schema = nil
			return s
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.snap.Marshal()
			require.NoError(t, err)
			got, err := natsbus.UnmarshalSnapshot(b)
			require.NoError(t, err)
			assert.True(t, proto.Equal(tt.snap.Update, got.Update))
			assert.True(t, proto.Equal(tt.snap.Schema, got.Schema))
			assert.Equal(t, tt.snap.StreamSeq, got.StreamSeq)
			assert.Equal(t, tt.snap.Epoch, got.Epoch)
			assert.Equal(t, tt.snap.StateNames, got.StateNames)
			assert.Equal(t, tt.snap.SchemaHash, got.SchemaHash)
		})
	}
}

func TestSnapshotBad(t *testing.T) {
	good, err := sampleSnapshot().Marshal()
	require.NoError(t, err)
	notFull := sampleSnapshot()
	notFull.Update.Full = false
	nf, err := notFull.Marshal()
	require.NoError(t, err)
	for name, b := range map[string][]byte{
		"empty":     nil,
		"truncated": good[:len(good)-3],
		"garbage":   {0xff, 0xff, 0xff},
		"not full":  nf,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := natsbus.UnmarshalSnapshot(b)
			require.ErrorIs(t, err, arpc.ErrInvalidResp)
		})
	}
}

func FuzzUnmarshalSnapshot(f *testing.F) {
	good, err := sampleSnapshot().Marshal()
	require.NoError(f, err)
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x02, 0x38, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := natsbus.UnmarshalSnapshot(b)
		if err != nil {
			require.ErrorIs(t, err, arpc.ErrInvalidResp)
			return
		}
		again, err := s.Marshal()
		require.NoError(t, err)
		s2, err := natsbus.UnmarshalSnapshot(again)
		require.NoError(t, err)
		assert.True(t, proto.Equal(s.Update, s2.Update))
		assert.Equal(t, s.StreamSeq, s2.StreamSeq)
	})
}
