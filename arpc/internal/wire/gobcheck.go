package wire

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
// interface value, when every value of the type encodes alike (no interface
// inside it).
var encodable sync.Map // reflect.Type → struct{}

type ifaceBox struct{ V any }

// CheckEncodable reports whether v can travel inside an interface value
// (am.A values, payload data, getter values) without breaking the gob
// stream. Builtin types pass at once; others are trial-encoded: once per
// type when the type holds no interface (its values encode alike), every
// time otherwise (one value of a struct with an `any` field may encode and
// the next not).
func CheckEncodable(v any) error {
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
	if !holdsInterface(t, map[reflect.Type]bool{}) {
		encodable.Store(t, struct{}{})
	}
	return nil
}

// holdsInterface reports whether a value of t can hold an interface value
// anywhere inside it (fields, elements, keys, pointees).
func holdsInterface(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return false
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return holdsInterface(t.Elem(), seen)
	case reflect.Map:
		return holdsInterface(t.Key(), seen) || holdsInterface(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if holdsInterface(t.Field(i).Type, seen) {
				return true
			}
		}
	}
	return false
}

// CheckArgs checks every value of args (CheckEncodable); the error names
// the first key that cannot travel.
func CheckArgs(args am.A) error {
	for k, v := range args {
		if err := CheckEncodable(v); err != nil {
			return fmt.Errorf("arg %q: %w", k, err)
		}
	}
	return nil
}

func init() {
	// the machine's own types travel inside am.A and payloads
	gob.Register(am.A{})
	gob.Register(am.S{})
	gob.Register(am.Time{})
}
