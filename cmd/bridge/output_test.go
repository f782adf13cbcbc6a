package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestIsTerminal: only a real terminal counts; /dev/null is a character
// device but not a terminal, so watch prints plain lines to it.
func TestIsTerminal(t *testing.T) {
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	file, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for name, w := range map[string]io.Writer{
		"dev-null": devNull, "pipe": pw, "file": file, "buffer": &bytes.Buffer{},
	} {
		if isTerminal(w) {
			t.Errorf("%s counts as a terminal", name)
		}
	}

	// the master side of a new pseudo-terminal is a terminal
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Logf("no pseudo-terminal to check the positive case: %v", err)
		return
	}
	defer ptmx.Close()
	if !isTerminal(ptmx) {
		t.Error("a pseudo-terminal does not count as a terminal")
	}
}
