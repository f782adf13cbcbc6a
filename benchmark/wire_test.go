package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestRunWire(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out strings.Builder
	if err := runWire(ctx, &out, 20); err != nil {
		t.Fatal(err)
	}
	for _, row := range []string{"| gob |", "| msgpack |", "| msgpack ÷ gob |",
		"| none |", "| s2 |", "| zstd |"} {
		if !strings.Contains(out.String(), row) {
			t.Fatalf("no %s row:\n%s", row, out.String())
		}
	}
}
