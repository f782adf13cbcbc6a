package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestRunDial(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out strings.Builder
	if err := runDial(ctx, &out, 2, 2); err != nil {
		t.Fatal(err)
	}
	for _, row := range dialRows {
		if !strings.Contains(out.String(), "| "+row+" |") {
			t.Fatalf("no %s row:\n%s", row, out.String())
		}
	}
}
