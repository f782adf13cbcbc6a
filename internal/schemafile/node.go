package schemafile

import "bytes"

// Node is a read-only view of one value of a YAML or JSON document, with its
// position, for other file formats of the project (the auth package's token
// and policy files) that want the same parsing, limits and file:line:col
// errors as schema files.
type Node struct{ v *value }

// NodeField is one key of a mapping Node, in source order.
type NodeField struct {
	Key       string
	Line, Col int
	Val       Node
}

// ReadDoc parses data (at most MaxSize bytes, one document) into a Node
// tree. Errors are [*Error] values with File empty and a position where one
// is known.
func ReadDoc(data []byte, format Format) (Node, error) {
	if len(data) > MaxSize {
		return Node{}, errorf(pos{}, "", ErrLimit, "larger than %d bytes", MaxSize)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if len(bytes.TrimSpace(data)) == 0 {
		return Node{}, errorf(pos{line: 1, col: 1}, "", ErrInvalid,
			"empty document")
	}
	var v *value
	var err error
	switch format {
	case FormatJSON:
		v, err = readJSON(data)
	case FormatYAML:
		v, err = readYAML(data)
	default:
		v, err = readAuto(data)
	}
	if err != nil {
		return Node{}, err
	}
	return Node{v}, nil
}

// ReadFile reads at most MaxSize bytes of path.
func ReadFile(path string) ([]byte, error) { return readFile(path) }

// Kind names the node's type: "null", "a boolean", "a string", "a number",
// "a list" or "a mapping".
func (n Node) Kind() string { return n.v.kind.String() }

// IsMap, IsSeq, IsString and IsNull tell the node's type.
func (n Node) IsMap() bool    { return n.v.kind == kindMap }
func (n Node) IsSeq() bool    { return n.v.kind == kindSeq }
func (n Node) IsString() bool { return n.v.kind == kindString }
func (n Node) IsNull() bool   { return n.v.kind == kindNull }

// Pos returns the node's 1-based line and column.
func (n Node) Pos() (line, col int) { return n.v.pos.line, n.v.pos.col }

// Str returns a string's value (a number's source text).
func (n Node) Str() string { return n.v.str }

// Items returns a list's items.
func (n Node) Items() []Node {
	out := make([]Node, len(n.v.items))
	for i, it := range n.v.items {
		out[i] = Node{it}
	}
	return out
}

// Fields returns a mapping's keys in source order.
func (n Node) Fields() []NodeField {
	out := make([]NodeField, len(n.v.fields))
	for i, f := range n.v.fields {
		out[i] = NodeField{Key: f.key, Line: f.keyPos.line, Col: f.keyPos.col,
			Val: Node{f.val}}
	}
	return out
}

// Errorf builds an [*Error] at line:col wrapping sentinel with a message.
func Errorf(line, col int, sentinel error, format string, args ...any) *Error {
	return errorf(pos{line: line, col: col}, "", sentinel, format, args...)
}
