package main

import (
	"encoding/json"
	"io"
	"os"
	"strings"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"golang.org/x/term"

	ss "github.com/arpcbridge/arpcbridge/arpc/states"
)

// isTerminal reports whether w is a terminal. It asks the terminal driver
// (term.IsTerminal), so other character devices such as /dev/null do not
// count.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// printJSON writes v as one line of JSON.
func printJSON(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v)
}

func joinNames(names am.S) string { return strings.Join(names, ", ") }

// userStates leaves out the worker states every served machine has, which
// say nothing about the machine itself (Exception stays).
func userStates(names am.S) am.S {
	out := make(am.S, 0, len(names))
	for _, n := range names {
		if n != ss.WorkerStates.SendPayload {
			out = append(out, n)
		}
	}
	return out
}
