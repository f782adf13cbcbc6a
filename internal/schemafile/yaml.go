package schemafile

import (
	"errors"
	"fmt"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// maxIndent caps the columns of indentation and block indicators ("- ", "? ",
// ": ") that start a YAML line. Like [MaxDepth] it bounds nesting, which the
// YAML parser handles in more than linear time.
const maxIndent = 4 * MaxDepth

// yamlReader turns a goccy/go-yaml AST into a value tree, resolving anchors,
// aliases and merge keys.
type yamlReader struct {
	anchors map[string]*value
	// total counts values with aliases expanded, against [MaxNodes].
	total int
}

// readYAML parses data as a single YAML document.
func readYAML(data []byte) (*value, error) {
	if err := prescanYAML(data); err != nil {
		return nil, err
	}
	file, err := parseYAML(data)
	if err != nil {
		return nil, err
	}

	var body ast.Node
	for _, doc := range file.Docs {
		if doc == nil || doc.Body == nil {
			continue
		}
		if body != nil {
			return nil, errorf(nodePos(doc.Body), "", ErrSyntax,
				"more than one YAML document")
		}
		body = doc.Body
	}
	if body == nil {
		return nil, errorf(pos{line: 1, col: 1}, "", ErrInvalid,
			"empty document; want a mapping with a states list")
	}
	r := &yamlReader{anchors: map[string]*value{}}

	return r.convert(body, 1)
}

// parseYAML runs the goccy parser. It recovers from a panic in it because
// this package must not panic on any input, and the parser is third-party
// code that cannot promise the same.
func parseYAML(data []byte) (file *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			file = nil
			err = errorf(pos{}, "", ErrSyntax, "YAML parser failure: %v", r)
		}
	}()

	file, err = parser.ParseBytes(data, 0, parser.AllowDuplicateMapKey())
	if err != nil {
		var yerr yaml.Error
		if errors.As(err, &yerr) {
			return nil, errorf(tokenPos(yerr.GetToken()), "", ErrSyntax, "%s",
				yerr.GetMessage())
		}
		return nil, errorf(pos{}, "", ErrSyntax, "%s", err.Error())
	}

	return file, nil
}

// prescanYAML rejects nesting too deep for the parser before running it: flow
// brackets past [MaxDepth] and line indentation past maxIndent. It counts
// brackets even inside quotes and comments, which only matters for inputs
// with dozens of unbalanced brackets in strings.
func prescanYAML(data []byte) error {
	depth := 0
	indent, lineStart := 0, true
	for i, c := range data {
		switch c {
		case '[', '{':
			depth++
			if depth > MaxDepth {
				return errorf(newLineIndex(data).pos(i), "", ErrLimit,
					"nesting deeper than %d levels", MaxDepth)
			}
		case ']', '}':
			depth = max(depth-1, 0)
		}

		switch {
		case c == '\n':
			indent, lineStart = 0, true
		case !lineStart:
		case c == ' ' || c == '\t' || c == '-' || c == '?' || c == ':':
			indent++
		case c == '\r':
		default:
			lineStart = false
			if indent > maxIndent {
				return errorf(newLineIndex(data).pos(i), "", ErrLimit,
					"indentation deeper than %d columns", maxIndent)
			}
		}
	}

	return nil
}

// count adds n values to the expanded total and checks [MaxNodes].
func (r *yamlReader) count(p pos, n int) error {
	r.total += n
	if r.total > MaxNodes {
		return errorf(p, "", ErrLimit,
			"more than %d values once aliases are expanded", MaxNodes)
	}

	return nil
}

// convert turns one AST node into a value; depth is its nesting level.
func (r *yamlReader) convert(n ast.Node, depth int) (*value, error) {
	if n == nil {
		return &value{kind: kindNull, size: 1}, r.count(pos{}, 1)
	}
	at := nodePos(n)
	if depth > MaxDepth {
		return nil, errorf(at, "", ErrLimit, "nesting deeper than %d levels",
			MaxDepth)
	}

	switch n := n.(type) {
	case *ast.AliasNode:
		name := nodeText(n.Value)
		v, ok := r.anchors[name]
		if !ok {
			return nil, errorf(at, "", ErrSyntax, "undefined alias *%s", name)
		}
		return v, r.count(at, v.size)

	case *ast.AnchorNode:
		v, err := r.convert(n.Value, depth)
		if err != nil {
			return nil, err
		}
		r.anchors[nodeText(n.Name)] = v
		return v, nil

	case *ast.TagNode:
		v, err := r.convert(n.Value, depth)
		if err != nil {
			return nil, err
		}
		// !!str turns a scalar such as 123 or true into a string
		if n.Start != nil && n.Start.Value == "!!str" && v.kind != kindSeq &&
			v.kind != kindMap && v.kind != kindString {

			v = &value{kind: kindString, pos: v.pos, str: nodeText(n.Value),
				size: 1}
		}
		return v, nil

	case *ast.MappingNode:
		return r.mapping(at, n.Values, depth)

	case *ast.MappingValueNode:
		return r.mapping(at, []*ast.MappingValueNode{n}, depth)

	case *ast.SequenceNode:
		v := &value{kind: kindSeq, pos: at, size: 1}
		if err := r.count(at, 1); err != nil {
			return nil, err
		}
		for _, item := range n.Values {
			iv, err := r.convert(item, depth+1)
			if err != nil {
				return nil, err
			}
			v.items = append(v.items, iv)
			v.size += iv.size
		}
		return v, nil
	}

	v := &value{pos: at, size: 1}
	switch n := n.(type) {
	case *ast.NullNode:
		v.kind = kindNull
	case *ast.BoolNode:
		v.kind, v.b = kindBool, n.Value
	case *ast.StringNode:
		v.kind, v.str = kindString, n.Value
	case *ast.LiteralNode:
		v.kind = kindString
		if n.Value != nil {
			v.str = n.Value.Value
		}
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		v.kind, v.str = kindNumber, nodeText(n)
	case *ast.MergeKeyNode:
		v.kind, v.str = kindString, nodeText(n)
	default:
		return nil, errorf(at, "", ErrInvalid, "unsupported YAML %s",
			n.Type().String())
	}

	return v, r.count(at, 1)
}

// mapping converts key-value pairs. Explicit keys win over merged ones
// ("<<"), and earlier merge sources win over later ones.
func (r *yamlReader) mapping(
	at pos, pairs []*ast.MappingValueNode, depth int,
) (*value, error) {
	v := &value{kind: kindMap, pos: at, size: 1}
	if err := r.count(at, 1); err != nil {
		return nil, err
	}

	var merged []*value
	for _, pair := range pairs {
		if pair == nil {
			continue
		}
		keyNode := ast.Node(pair.Key)
		if k, ok := pair.Key.(*ast.MappingKeyNode); ok {
			keyNode = k.Value
		}
		keyAt := nodePos(keyNode)

		if _, ok := keyNode.(*ast.MergeKeyNode); ok {
			src, err := r.convert(pair.Value, depth+1)
			if err != nil {
				return nil, err
			}
			sources, err := mergeSources(src)
			if err != nil {
				return nil, err
			}
			merged = append(merged, sources...)
			v.size += src.size
			continue
		}

		kv, err := r.convert(keyNode, depth+1)
		if err != nil {
			return nil, err
		}
		if kv.kind == kindSeq || kv.kind == kindMap {
			return nil, errorf(keyAt, "", ErrInvalid,
				"mapping keys must be strings, not %s", kv.kind)
		}
		key := kv.str
		if kv.kind != kindString {
			key = nodeText(keyNode)
		}
		val, err := r.convert(pair.Value, depth+1)
		if err != nil {
			return nil, err
		}
		if err := addField(v, field{key: key, keyPos: keyAt,
			val: val}); err != nil {
			return nil, err
		}
		v.size += val.size
	}

	for _, src := range merged {
		for _, f := range src.fields {
			if v.lookup(f.key) == nil {
				v.fields = append(v.fields, f)
			}
		}
	}

	return v, nil
}

// mergeSources returns the mappings a merge key ("<<") names: one mapping or
// a list of them.
func mergeSources(src *value) ([]*value, error) {
	switch src.kind {
	case kindMap:
		return []*value{src}, nil
	case kindSeq:
		for _, item := range src.items {
			if item.kind != kindMap {
				return nil, errorf(item.pos, "", ErrInvalid,
					"merge key << takes mappings, not %s", item.kind)
			}
		}
		return src.items, nil
	}

	return nil, errorf(src.pos, "", ErrInvalid,
		"merge key << takes a mapping or a list of mappings, not %s", src.kind)
}

// nodePos returns where a node starts: its first key for a mapping (whose
// own token is the first ':'), its first token otherwise.
func nodePos(n ast.Node) pos {
	switch m := n.(type) {
	case nil:
		return pos{}
	case *ast.MappingNode:
		if len(m.Values) > 0 && m.Values[0] != nil {
			return nodePos(m.Values[0])
		}
	case *ast.MappingValueNode:
		if m.Key != nil {
			return nodePos(m.Key)
		}
	}

	return tokenPos(n.GetToken())
}

func tokenPos(tk *token.Token) pos {
	if tk == nil || tk.Position == nil {
		return pos{}
	}

	return pos{line: tk.Position.Line, col: tk.Position.Column}
}

// nodeText returns a scalar node's source text without quotes.
func nodeText(n ast.Node) string {
	if n == nil {
		return ""
	}
	if s, ok := n.(*ast.StringNode); ok {
		return s.Value
	}
	if tk := n.GetToken(); tk != nil {
		return tk.Value
	}

	return fmt.Sprint(n)
}
