package worker

// Status is a snapshot of a pool, for the status page and the metrics.
type Status struct {
	// Starting, Idle, Busy and Stopping count the workers in each state.
	Starting, Idle, Busy, Stopping int
	// Pids lists the workers that are idle or busy.
	Pids []int
	// Restarts counts the workers that exited by themselves or did not
	// start, since the pool began.
	Restarts int64
	// Waiting counts the requests waiting for an idle worker.
	Waiting int
	// Failing says why requests are refused, while rapid-fail protection
	// holds; "" otherwise.
	Failing string
}
