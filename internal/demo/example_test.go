package demo_test

import (
	"context"
	"fmt"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/internal/demo"
)

func ExampleRun() {
	ctx := context.Background()
	mach := am.New(ctx, demo.Schema(), &am.Opts{Id: "worker"})
	defer mach.Dispose()
	if err := mach.VerifyStates(
		am.SAdd(demo.Names(), am.S{am.StateException})); err != nil {
		fmt.Println(err)
		return
	}

	// a fixed seed and step count make the same moves every time
	err := demo.Run(ctx, mach, demo.Options{
		Interval: time.Millisecond, Steps: 40, Seed: 1,
	})
	fmt.Println(err)
	fmt.Println("done:", mach.Tick(demo.Done)/2, "failed:",
		mach.Tick(demo.Failed)/2)

	// Output:
	// <nil>
	// done: 10 failed: 4
}
