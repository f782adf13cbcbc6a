package auth

import (
	"errors"
	"fmt"

	"github.com/arpcbridge/arpcbridge/internal/schemafile"
)

// readDoc reads and parses a token or policy file. Errors wrap ErrBadFile
// and say file:line:col.
func readDoc(path string) (schemafile.Node, error) {
	data, err := schemafile.ReadFile(path)
	if err != nil {
		return schemafile.Node{}, fmt.Errorf("%w: %s: %w", ErrBadFile, path, err)
	}
	return parseDoc(path, data)
}

// parseDoc parses data; name is the file name errors start with.
func parseDoc(name string, data []byte) (schemafile.Node, error) {
	n, err := schemafile.ReadDoc(data, schemafile.FormatOf(name))
	if err != nil {
		return n, fileErr(name, err)
	}
	if !n.IsMap() {
		l, c := n.Pos()
		return n, fileErr(name, schemafile.Errorf(l, c, ErrBadFile,
			"want a mapping, not %s", n.Kind()))
	}
	return n, nil
}

// fileErr sets the file name of a positioned error and makes it wrap
// ErrBadFile.
func fileErr(name string, err error) error {
	var perr *schemafile.Error
	if errors.As(err, &perr) {
		perr.File = name
		if !errors.Is(perr.Err, ErrBadFile) {
			perr.Err = fmt.Errorf("%w: %w", ErrBadFile, perr.Err)
		}
		return perr
	}
	return fmt.Errorf("%w: %s: %w", ErrBadFile, name, err)
}

// badAt is an error at a node of file name.
func badAt(name string, n schemafile.Node, format string, args ...any) error {
	l, c := n.Pos()
	return fileErr(name, schemafile.Errorf(l, c, ErrBadFile, format, args...))
}

// badKey is an error at a mapping key of file name.
func badKey(name string, f schemafile.NodeField, format string,
	args ...any,
) error {
	return fileErr(name, schemafile.Errorf(f.Line, f.Col, ErrBadFile, format,
		args...))
}

// str reads a string node.
func str(name string, n schemafile.Node, what string) (string, error) {
	if !n.IsString() {
		return "", badAt(name, n, "%s must be a string, not %s", what, n.Kind())
	}
	return n.Str(), nil
}

// strList reads a list of strings; null is an empty list.
func strList(name string, n schemafile.Node, what string) ([]string, error) {
	if n.IsNull() {
		return nil, nil
	}
	if !n.IsSeq() {
		return nil, badAt(name, n, "%s must be a list of strings, not %s", what,
			n.Kind())
	}
	var out []string
	for _, it := range n.Items() {
		s, err := str(name, it, what+" items")
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}
