package wire

import (
	"encoding/gob"
	"testing"

	"github.com/stretchr/testify/require"
)

type boxWithAny struct{ V any }

type unregistered struct{ X int }

func init() { gob.Register(boxWithAny{}) }

// One value of a type with an interface inside encoding must not vouch for
// the next: each is checked.
func TestCheckEncodableRechecksTypesHoldingInterfaces(t *testing.T) {
	require.NoError(t, CheckEncodable(boxWithAny{V: 1}))
	require.ErrorIs(t, CheckEncodable(boxWithAny{V: unregistered{}}),
		ErrInvalidParams)
	require.ErrorIs(t, CheckEncodable(&typedArgs{Err: errUnregistered{}}),
		ErrInvalidParams)
	require.NoError(t, CheckEncodable(&typedArgs{Name: "ok"}))
}

type errUnregistered struct{}

func (errUnregistered) Error() string { return "unregistered error type" }
