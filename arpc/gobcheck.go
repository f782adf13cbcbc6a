package arpc

import (
	"encoding/gob"
	"fmt"
	"io"
	"reflect"
	"sync"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
)

// encodable remembers the concrete types already proven to encode as an
// interface value.
var encodable sync.Map // reflect.Type → struct{}

type ifaceBox struct{ V any }

// checkEncodable reports whether v can travel inside an interface value
// (am.A values, payload data, getter values) without breaking the gob
// stream. Builtin types pass at once; others are trial-encoded once per type.
func checkEncodable(v any) error {
	switch v.(type) {
	case nil, bool, string, []byte, int, int8, int16, int32, int64, uint, uint8,
		uint16, uint32, uint64, float32, float64, []string, []int,
		time.Duration:
		return nil
	}
	t := reflect.TypeOf(v)
	if _, ok := encodable.Load(t); ok {
		return nil
	}
	if err := gob.NewEncoder(io.Discard).Encode(&ifaceBox{V: v}); err != nil {
		return fmt.Errorf("%w: value of type %s cannot be sent (register it with "+
			"gob.Register): %w", ErrInvalidParams, t, err)
	}
	encodable.Store(t, struct{}{})
	return nil
}

func checkArgs(args am.A) error {
	for k, v := range args {
		if err := checkEncodable(v); err != nil {
			return fmt.Errorf("arg %q: %w", k, err)
		}
	}
	return nil
}

func init() {
	// typed aRPC args travel inside am.A
	gob.Register(&A{})
	gob.Register(&ArgsPayload{})
	gob.Register(am.A{})
	gob.Register(am.S{})
	gob.Register(am.Time{})
}
