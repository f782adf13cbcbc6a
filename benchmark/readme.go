package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

const (
	readmeBegin = "<!-- results:begin (written by `go run ./benchmark -write`) -->"
	readmeEnd   = "<!-- results:end -->"
)

// errNoMarkers means README.md exists but lacks the results markers.
var errNoMarkers = errors.New("README.md has no results markers")

// WriteFiles writes chart.svg into dir and replaces the results section of
// dir/README.md (between the markers) with the tables and the machine line.
func (r *Results) WriteFiles(dir string) error {
	var svg bytes.Buffer
	if err := r.WriteSVG(&svg); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "chart.svg"), svg.Bytes(), 0o644); err != nil {
		return err
	}

	var sec bytes.Buffer
	sec.WriteString(readmeBegin + "\n\n")
	r.WriteMachine(&sec)
	sec.WriteString("\n![benchmark chart](chart.svg)\n\n")
	r.WriteMarkdown(&sec)
	sec.WriteString(readmeEnd)

	path := filepath.Join(dir, "README.md")
	old, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	i := bytes.Index(old, []byte(readmeBegin))
	j := bytes.Index(old, []byte(readmeEnd))
	if i < 0 || j < i {
		return fmt.Errorf("%s: %w", path, errNoMarkers)
	}
	out := strings.Join([]string{
		string(old[:i]), sec.String(), string(old[j+len(readmeEnd):]),
	}, "")

	return os.WriteFile(path, []byte(out), 0o644)
}
