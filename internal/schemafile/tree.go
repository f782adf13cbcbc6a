package schemafile

import (
	"fmt"
	"sort"
	"unicode/utf8"
)

// The YAML and JSON readers both produce a small value tree with a position
// on every value; validation then works on that tree alone, so both formats
// follow one set of rules and report positions the same way.

// kind is the type of a value in the tree.
type kind uint8

const (
	kindNull kind = iota
	kindBool
	kindString
	kindNumber
	kindSeq
	kindMap
)

func (k kind) String() string {
	switch k {
	case kindNull:
		return "null"
	case kindBool:
		return "a boolean"
	case kindString:
		return "a string"
	case kindNumber:
		return "a number"
	case kindSeq:
		return "a list"
	case kindMap:
		return "a mapping"
	}

	return "unknown"
}

// pos is a 1-based line and column; zero means unknown.
type pos struct {
	line, col int
}

// value is one node of the tree. Aliased YAML nodes share one value.
type value struct {
	kind   kind
	pos    pos
	str    string // string value, or the source text of a number
	b      bool
	items  []*value
	fields []field
	// size counts this value and everything below it, aliases expanded.
	size int
}

// field is one key of a mapping, in source order.
type field struct {
	key    string
	keyPos pos
	val    *value
}

// lookup returns the field with the given key, or nil.
func (v *value) lookup(key string) *field {
	for i := range v.fields {
		if v.fields[i].key == key {
			return &v.fields[i]
		}
	}

	return nil
}

// errAt builds an [*Error] at p.
func errAt(p pos, state string, err error) *Error {
	return &Error{Line: p.line, Column: p.col, State: state, Err: err}
}

// errorf builds an [*Error] at p wrapping sentinel with a message.
func errorf(p pos, state string, sentinel error, format string,
	args ...any,
) *Error {
	msg := fmt.Sprintf(format, args...)
	return errAt(p, state, fmt.Errorf("%w: %s", sentinel, msg))
}

// lineIndex converts byte offsets of one input into positions.
type lineIndex struct {
	data   []byte
	starts []int // byte offset of each line start
}

func newLineIndex(data []byte) *lineIndex {
	starts := []int{0}
	for i, c := range data {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}

	return &lineIndex{data: data, starts: starts}
}

// pos returns the position of byte offset off, clamped to the input.
func (li *lineIndex) pos(off int) pos {
	off = min(max(off, 0), len(li.data))
	line := sort.Search(len(li.starts), func(i int) bool {
		return li.starts[i] > off
	}) - 1
	col := utf8.RuneCount(li.data[li.starts[line]:off]) + 1

	return pos{line: line + 1, col: col}
}
