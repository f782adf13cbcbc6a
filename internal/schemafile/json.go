package schemafile

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// jsonReader turns JSON into a value tree with encoding/json's token stream,
// which keeps JSON strict and gives exact byte offsets for errors.
type jsonReader struct {
	dec  *json.Decoder
	data []byte
	li   *lineIndex
}

// readJSON parses data as one JSON value.
func readJSON(data []byte) (*value, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	r := &jsonReader{dec: dec, data: data, li: newLineIndex(data)}

	v, err := r.value(1)
	if err != nil {
		return nil, err
	}
	at := r.next()
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, r.syntaxErr(err)
		}
		return nil, errorf(at, "", ErrSyntax,
			"unexpected data after the top-level value")
	}

	return v, nil
}

// next returns the position where the next token starts: past whitespace and
// the separators the decoder has not consumed yet.
func (r *jsonReader) next() pos {
	off := int(r.dec.InputOffset())
	for off < len(r.data) && (isJSONSpace(r.data[off]) ||
		r.data[off] == ',' || r.data[off] == ':') {

		off++
	}

	return r.li.pos(off)
}

func isJSONSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n'
}

// syntaxErr converts a decoder error into an [*Error] with a position.
func (r *jsonReader) syntaxErr(err error) *Error {
	var se *json.SyntaxError
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(r.li.pos(len(r.data)), "", ErrSyntax,
			"unexpected end of JSON input")
	case !errors.As(err, &se):
		return errorf(r.next(), "", ErrSyntax, "%s", err.Error())
	}

	// The token stream's offsets point before or after the offending byte
	// depending on the code path; a whole-input check counts the offending
	// byte every time, so it gives the exact position.
	var raw json.RawMessage
	var checked *json.SyntaxError
	if errors.As(json.Unmarshal(r.data, &raw), &checked) {
		se = checked
	}
	off := int(se.Offset) - 1
	for off < len(r.data) && off >= 0 && isJSONSpace(r.data[off]) {
		off++
	}

	return errorf(r.li.pos(off), "", ErrSyntax, "%s", se.Error())
}

// value reads one value; depth is its nesting level, from 1.
func (r *jsonReader) value(depth int) (*value, error) {
	at := r.next()
	if depth > MaxDepth {
		return nil, errorf(at, "", ErrLimit, "nesting deeper than %d levels",
			MaxDepth)
	}
	tok, err := r.dec.Token()
	if err != nil {
		return nil, r.syntaxErr(err)
	}

	v := &value{pos: at, size: 1}
	switch t := tok.(type) {
	case nil:
		v.kind = kindNull
	case bool:
		v.kind, v.b = kindBool, t
	case string:
		v.kind, v.str = kindString, t
	case json.Number:
		v.kind, v.str = kindNumber, t.String()
	case json.Delim:
		switch t {
		case '[':
			v.kind = kindSeq
			for r.dec.More() {
				item, err := r.value(depth + 1)
				if err != nil {
					return nil, err
				}
				v.items = append(v.items, item)
			}
		case '{':
			v.kind = kindMap
			for r.dec.More() {
				keyAt := r.next()
				keyTok, err := r.dec.Token()
				if err != nil {
					return nil, r.syntaxErr(err)
				}
				// the decoder only yields strings in key position
				key, _ := keyTok.(string)
				val, err := r.value(depth + 1)
				if err != nil {
					return nil, err
				}
				if err := addField(v, field{key: key, keyPos: keyAt,
					val: val}); err != nil {
					return nil, err
				}
			}
		}
		// the closing delimiter
		if _, err := r.dec.Token(); err != nil {
			return nil, r.syntaxErr(err)
		}
	}

	return v, nil
}

// addField appends f to the mapping m, rejecting a key given twice.
func addField(m *value, f field) error {
	if prev := m.lookup(f.key); prev != nil {
		return errorf(f.keyPos, "", ErrDuplicate,
			"key %q already given on line %d", f.key, prev.keyPos.line)
	}
	m.fields = append(m.fields, f)

	return nil
}
