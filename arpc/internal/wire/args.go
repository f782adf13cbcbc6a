package wire

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Scalar args (the usual kind: numbers, strings, flags) are packed by the
// codec instead of gob, which would spell out each value's type name: per
// entry the key's length and bytes, a type tag and the value. A mutation
// with any other value travels as a gob body (ArgsMut), as registered.
const (
	tagBool byte = iota + 1
	tagInt
	tagInt64
	tagInt32
	tagUint
	tagUint64
	tagFloat64
	tagString
)

// packArgs splits args into packed scalars and the rest (nil when none).
func packArgs(args map[string]any) (packed []byte, rest map[string]any) {
	for k, v := range args {
		start := len(packed)
		packed = binary.AppendUvarint(packed, uint64(len(k)))
		packed = append(packed, k...)
		switch v := v.(type) {
		case bool:
			b := byte(0)
			if v {
				b = 1
			}
			packed = append(packed, tagBool, b)
		case int:
			packed = binary.AppendVarint(append(packed, tagInt), int64(v))
		case int64:
			packed = binary.AppendVarint(append(packed, tagInt64), v)
		case int32:
			packed = binary.AppendVarint(append(packed, tagInt32), int64(v))
		case uint:
			packed = binary.AppendUvarint(append(packed, tagUint), uint64(v))
		case uint64:
			packed = binary.AppendUvarint(append(packed, tagUint64), v)
		case float64:
			packed = binary.LittleEndian.AppendUint64(append(packed, tagFloat64),
				math.Float64bits(v))
		case string:
			packed = binary.AppendUvarint(append(packed, tagString),
				uint64(len(v)))
			packed = append(packed, v...)
		default:
			packed = packed[:start]
			if rest == nil {
				rest = make(map[string]any, len(args))
			}
			rest[k] = v
		}
	}
	return packed, rest
}

// unpackArgs returns the packed scalars as args; nil for none.
func unpackArgs(packed []byte) (map[string]any, error) {
	if len(packed) == 0 {
		return nil, nil
	}
	args := map[string]any{}
	bad := fmt.Errorf("%w: malformed packed args", ErrRpc)
	for len(packed) > 0 {
		n, l := binary.Uvarint(packed)
		if l <= 0 || uint64(len(packed)-l) < n+1 {
			return nil, bad
		}
		key := string(packed[l : l+int(n)])
		packed = packed[l+int(n):]
		tag := packed[0]
		packed = packed[1:]
		var v any
		switch tag {
		case tagBool:
			if len(packed) < 1 {
				return nil, bad
			}
			v, packed = packed[0] == 1, packed[1:]
		case tagInt, tagInt64, tagInt32:
			x, l := binary.Varint(packed)
			if l <= 0 {
				return nil, bad
			}
			packed = packed[l:]
			switch tag {
			case tagInt:
				v = int(x)
			case tagInt64:
				v = x
			default:
				v = int32(x)
			}
		case tagUint, tagUint64:
			x, l := binary.Uvarint(packed)
			if l <= 0 {
				return nil, bad
			}
			packed = packed[l:]
			if tag == tagUint {
				v = uint(x)
			} else {
				v = x
			}
		case tagFloat64:
			if len(packed) < 8 {
				return nil, bad
			}
			v = math.Float64frombits(binary.LittleEndian.Uint64(packed))
			packed = packed[8:]
		case tagString:
			n, l := binary.Uvarint(packed)
			if l <= 0 || uint64(len(packed)-l) < n {
				return nil, bad
			}
			v = string(packed[l : l+int(n)])
			packed = packed[l+int(n):]
		default:
			return nil, bad
		}
		args[key] = v
	}
	return args, nil
}
