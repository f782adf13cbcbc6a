package schemafile

import (
	"errors"
	"strconv"
	"strings"
)

// Sentinel errors. Every error from [Load] and [Parse] wraps exactly one of
// them, inside an [*Error] that says where the problem is.
var (
	// ErrSyntax means the input is not well-formed YAML or JSON, or holds more
	// than one YAML document.
	ErrSyntax = errors.New("syntax error")
	// ErrUnknownField means a mapping has a key the format does not define.
	ErrUnknownField = errors.New("unknown field")
	// ErrDuplicate means a state name, relation entry, tag or mapping key
	// appears twice.
	ErrDuplicate = errors.New("duplicate")
	// ErrUnknownState means a relation names a state that is not defined.
	ErrUnknownState = errors.New("unknown state")
	// ErrInvalid means the input is well-formed but breaks a rule of the
	// format: a wrong value type, a missing or malformed name, an empty state
	// list, a self-reference or conflicting relations.
	ErrInvalid = errors.New("invalid definition")
	// ErrLimit means the input is past [MaxSize], [MaxDepth] or [MaxNodes].
	ErrLimit = errors.New("limit exceeded")
)

// Error describes one problem in a definition. Its fields are zero when not
// known: File is empty for [Parse], Line and Column are 1-based and zero for
// problems with no position (such as a file that cannot be read), and State
// is empty when the problem is not inside a named state.
type Error struct {
	// File is the path given to [Load].
	File string
	// Line is the 1-based line of the problem.
	Line int
	// Column is the 1-based column, counted in characters.
	Column int
	// State is the name of the state the problem is in.
	State string
	// Err wraps one of the ErrX sentinels, or the error from reading the file.
	Err error
}

// Error formats the problem as "file:line:column: state "Name": message",
// leaving out the parts that are unknown.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
	}
	if e.Line > 0 {
		if b.Len() > 0 {
			b.WriteByte(':')
		}
		b.WriteString(strconv.Itoa(e.Line))
		if e.Column > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(e.Column))
		}
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.State != "" {
		b.WriteString("state ")
		b.WriteString(strconv.Quote(e.State))
		b.WriteString(": ")
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}

	return b.String()
}

// Unwrap returns the wrapped sentinel or I/O error.
func (e *Error) Unwrap() error {
	return e.Err
}
