package queue_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gatewayd/handler"
	"gatewayd/handler/internal/queue"
)

// One slot: the first request takes it, the second waits its 10ms for it
// and gets 503, and once the app halts a request gets 503 at once.
func ExampleTake() {
	slots := make(chan struct{}, 1)
	slots <- struct{}{}
	q := &queue.Queue{Max: 1, Timeout: 10 * time.Millisecond, What: "slot"}
	halt := make(chan struct{})
	stopped := errors.New("stopping")
	ctx := context.Background()

	_, err := queue.Take(ctx, q, slots, halt, stopped, nil)
	fmt.Println("first:", err)
	_, err = queue.Take(ctx, q, slots, halt, stopped, nil)
	fmt.Println("second:", handler.StatusOf(err), err)
	close(halt)
	_, err = queue.Take(ctx, q, slots, halt, stopped, nil)
	fmt.Println("after halt:", err)
	// Output:
	// first: <nil>
	// second: 503 503 Service Unavailable: handler: too many programs running: no slot free within 10ms
	// after halt: 503 Service Unavailable: stopping
}
