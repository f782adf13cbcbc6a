package schemafile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
)

// Limits on the input, each reported as [ErrLimit].
const (
	// MaxSize is the largest input accepted, in bytes.
	MaxSize = 1 << 20
	// MaxDepth is the deepest nesting of lists and mappings accepted. The
	// format needs 4; YAML lines are also limited to 4*MaxDepth columns of
	// indentation.
	MaxDepth = 64
	// MaxNodes is the most values a YAML input may hold once its aliases are
	// expanded.
	MaxNodes = 1 << 20
)

// Format is the syntax of a definition.
type Format int

const (
	// FormatAuto detects JSON or YAML from the content.
	FormatAuto Format = iota
	// FormatYAML is YAML 1.2, one document.
	FormatYAML
	// FormatJSON is strict JSON.
	FormatJSON
)

// String returns "auto", "yaml" or "json".
func (f Format) String() string {
	switch f {
	case FormatAuto:
		return "auto"
	case FormatYAML:
		return "yaml"
	case FormatJSON:
		return "json"
	}

	return fmt.Sprintf("Format(%d)", int(f))
}

// FormatOf returns the format a file name's extension implies: FormatJSON for
// .json, FormatYAML for .yaml and .yml (any case), else FormatAuto.
func FormatOf(path string) Format {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		return FormatJSON
	case ".yaml", ".yml":
		return FormatYAML
	}

	return FormatAuto
}

// Def is a machine definition read from a file.
type Def struct {
	// ID is the machine id; empty when the file gives none.
	ID string
	// Schema holds the states the file defines, keyed by name. It does not
	// add Exception; am.New does that when it is missing.
	Schema am.Schema
	// Names lists the defined states in file order, which fixes their
	// indexes.
	Names am.S
}

// Options adjusts validation. The zero value means the defaults.
type Options struct {
	// External lists states that relations may name without the file
	// defining them, such as states of the machine the definition is merged
	// into. Exception is always allowed. Default: none.
	External am.S
}

// Load reads and validates the definition in the file at path, with the
// format taken from [FormatOf]. Errors are [*Error] values with File set;
// one that wraps an I/O error (such as fs.ErrNotExist) has no position.
func Load(path string) (*Def, error) {
	return LoadWithOptions(path, Options{})
}

// LoadWithOptions is [Load] with [Options].
func LoadWithOptions(path string, opts Options) (*Def, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, &Error{File: path, Err: err}
	}
	def, err := ParseWithOptions(data, FormatOf(path), opts)
	if err != nil {
		var perr *Error
		if errors.As(err, &perr) {
			perr.File = path
		}
		return nil, err
	}

	return def, nil
}

// readFile reads at most MaxSize bytes, failing with ErrLimit past that.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()

	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrLimit, MaxSize)
	}

	return data, nil
}

// Parse validates the definition in data. It is safe for concurrent use and
// never panics. Errors are [*Error] values with File empty.
func Parse(data []byte, format Format) (*Def, error) {
	return ParseWithOptions(data, format, Options{})
}

// ParseWithOptions is [Parse] with [Options].
func ParseWithOptions(data []byte, format Format, opts Options) (*Def, error) {
	if len(data) > MaxSize {
		return nil, errorf(pos{}, "", ErrLimit, "larger than %d bytes", MaxSize)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))

	var root *value
	var err error
	switch format {
	case FormatJSON:
		root, err = readJSON(data)
	case FormatYAML:
		root, err = readYAML(data)
	case FormatAuto:
		root, err = readAuto(data)
	default:
		return nil, errorf(pos{}, "", ErrInvalid, "unknown format %s", format)
	}
	if err != nil {
		return nil, err
	}

	return build(root, opts)
}

// readAuto reads input starting with '{' or '[' as JSON, falling back to
// YAML (of which JSON is a subset) only when YAML accepts what JSON did not,
// so JSON mistakes get JSON error messages. Anything else is YAML.
func readAuto(data []byte) (*value, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 || (trimmed[0] != '{' && trimmed[0] != '[') {
		return readYAML(data)
	}
	root, jsonErr := readJSON(data)
	if jsonErr == nil || !errors.Is(jsonErr, ErrSyntax) {
		return root, jsonErr
	}
	if root, err := readYAML(data); err == nil {
		return root, nil
	}

	return nil, jsonErr
}
