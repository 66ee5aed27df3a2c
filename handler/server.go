package handler

import "context"

// Server serves one request that a front-end decoded: what every front-end
// depends on. *Handler, the pipeline, is one; whatever stands in front of
// it — a table of mounts, a configuration swapped on reload, a wrapper that
// counts requests — is another, and the front-ends need not change.
type Server interface {
	// Serve runs req and writes its response to w, as Handler.Serve does:
	// it never panics, the response is complete when it returns, and
	// completing the protocol (FastCGI's END_REQUEST, a flush) is the
	// front-end's part.
	Serve(ctx context.Context, req *Request, w ResponseWriter) Result
}

// ServerFunc makes a function a Server.
type ServerFunc func(ctx context.Context, req *Request, w ResponseWriter) Result

// Serve calls f.
func (f ServerFunc) Serve(ctx context.Context, req *Request, w ResponseWriter) Result {
	return f(ctx, req, w)
}

var _ Server = (*Handler)(nil)
