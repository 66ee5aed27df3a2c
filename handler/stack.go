package handler

// requestStack is about the stack a request needs from Handler.Serve to
// the start of its program: the deepest point measured behind nginx, a
// static CGI program's path check, lies between 4 and 8 KiB down.
const requestStack = 6 << 10

// stackIndex is 0, in a variable so that the compiler cannot see it.
var stackIndex = 0

// growStack makes the calling goroutine's stack hold requestStack bytes
// at once, while the stack holds a few frames.
//
// A goroutine starts with a stack of the average size the runtime has
// seen, which the many small goroutines of a request (stderr relays,
// timers) keep at a few KiB. The request's own goroutine then outgrew it
// deep in the pipeline, and the runtime copied its stack there, frame by
// frame: about 4% of gatewayd's CPU per request behind nginx. Growing it
// here copies next to nothing.
//
//go:noinline
func growStack() byte {
	var b [requestStack]byte
	return b[stackIndex]
}
