package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out); err != nil {
		t.Fatal(err)
	}
	if want := "canceled\nexecuted\ntrue\nexecuted\n[]\n"; out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

// The README's Go code is this program, from its imports on: what a reader
// copies compiles.
func TestREADMEShowsThisFile(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	code := string(src)
	code = code[strings.Index(code, "package main"):]
	if !strings.Contains(string(readme), "```go\n"+code+"```\n") {
		t.Error("README.md's Go program differs from examples/quickstart/main.go; " +
			"copy the file (from \"package main\") into the README")
	}
}
