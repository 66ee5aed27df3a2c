package subprocess_test

import (
	"fmt"
	"runtime"

	"gatewayd/handler/subprocess"
)

// The bounds a zero Config takes on this machine.
func ExampleDefaultMaxChildren() {
	children := subprocess.DefaultMaxChildren()
	fmt.Println(children == subprocess.DefaultChildrenPerCPU*runtime.NumCPU())
	fmt.Println("queue:", subprocess.DefaultQueuePerChild, "× MaxChildren")
	// Output:
	// true
	// queue: 16 × MaxChildren
}
