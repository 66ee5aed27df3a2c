package handler

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cgi"
	"runtime/debug"
	"slices"
	"strings"
)

// HTTPApp returns an App that serves requests with h in this process. The
// request h sees is built from the CGI environment as net/http/cgi builds it
// in a child; what h writes becomes a CGI response. A response whose body h
// writes without flushing and that fits in 32 KiB gets a Content-Length,
// appended after h's own fields (wsgiref's rule for a one-chunk result). A
// missing Content-Type is not sniffed, unlike net/http: RFC 3875 §6.3.1 says
// a gateway must not guess it.
//
// A handler that neither returns nor writes cannot be stopped: Wait waits for
// it. Handlers should watch their request's context, which ends with the
// request.
func HTTPApp(h http.Handler) App { return httpApp{h} }

type httpApp struct{ h http.Handler }

func (a httpApp) Start(ctx context.Context, c *Call) (Run, error) {
	req, err := cgi.RequestFromMap(c.Env)
	if err != nil {
		return nil, Errorf(http.StatusBadRequest, "handler: %w", err)
	}
	req = req.WithContext(ctx)
	req.Body = io.NopCloser(c.Body)
	pr, pw := io.Pipe()
	r := &httpRun{pr: pr, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		w := &cgiWriter{bw: bufio.NewWriterSize(pw, 4<<10), header: http.Header{}}
		defer func() {
			if p := recover(); p != nil {
				r.err = fmt.Errorf("handler: panic serving %s: %v\n%s", req.URL, p, debug.Stack())
				if p == http.ErrAbortHandler {
					r.err = fmt.Errorf("handler: %w", http.ErrAbortHandler)
				}
				pw.CloseWithError(r.err)
				return
			}
			pw.CloseWithError(w.finish())
		}()
		a.h.ServeHTTP(w, req)
	}()
	return r, nil
}

// httpRun is a handler running on its own goroutine.
type httpRun struct {
	pr   *io.PipeReader
	done chan struct{} // closed when the handler's goroutine ends
	err  error         // a panic; written before done is closed
}

func (r *httpRun) Read(p []byte) (int, error) { return r.pr.Read(p) }

func (r *httpRun) Wait() Exit {
	r.pr.CloseWithError(errors.New("handler: response no longer read"))
	<-r.done
	return Exit{Err: r.err}
}

// cgiWriter is the http.ResponseWriter of an HTTPApp: it writes a CGI
// response.
type cgiWriter struct {
	bw      *bufio.Writer
	header  http.Header
	status  int
	pending []byte // body held back to compute Content-Length
	sent    bool   // the header block has been written
	err     error  // the first write error
}

const maxPending = 32 << 10

// headerValue turns the bytes that would break a header line into spaces,
// as net/http does.
var headerValue = strings.NewReplacer("\r", " ", "\n", " ", "\x00", " ")

func (w *cgiWriter) Header() http.Header { return w.header }

func (w *cgiWriter) WriteHeader(code int) {
	if w.status != 0 || code < 200 || code > 999 {
		return // informational responses are not relayed through CGI
	}
	w.status = code
}

func (w *cgiWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return 0, w.err
	}
	if !w.sent {
		if len(w.pending)+len(p) <= maxPending {
			w.pending = append(w.pending, p...)
			return len(p), nil
		}
		w.sendHeader(-1)
	}
	n, err := w.bw.Write(p)
	w.err = err
	return n, err
}

// Flush implements http.Flusher: what was written goes out now, without a
// Content-Length.
func (w *cgiWriter) Flush() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.sent {
		w.sendHeader(-1)
	}
	if w.err == nil {
		w.err = w.bw.Flush()
	}
}

// finish ends the response when the handler returns.
func (w *cgiWriter) finish() error {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.sent {
		w.sendHeader(len(w.pending))
	}
	if w.err != nil {
		return w.err
	}
	return w.bw.Flush()
}

// sendHeader writes the header block and the pending body. length is the
// whole body's length when it is known, else -1.
func (w *cgiWriter) sendHeader(length int) {
	w.sent = true
	h := w.header
	fmt.Fprintf(w.bw, "Status: %d %s\r\n", w.status, http.StatusText(w.status))
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if k == "Status" {
			continue
		}
		for _, v := range h[k] {
			fmt.Fprintf(w.bw, "%s: %s\r\n", k, headerValue.Replace(strings.TrimSpace(v)))
		}
	}
	if length >= 0 && h.Get("Content-Length") == "" && h.Get("Transfer-Encoding") == "" {
		fmt.Fprintf(w.bw, "Content-Length: %d\r\n", length)
	}
	w.bw.WriteString("\r\n")
	_, w.err = w.bw.Write(w.pending)
	w.pending = nil
}
