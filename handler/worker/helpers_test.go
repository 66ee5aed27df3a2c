package worker_test

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"

	"gatewayd/handler"
)

type syncBuffer struct {
	mu sync.Mutex
	bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.String()
}

// recorder is a handler.ResponseWriter that keeps the response.
type recorder struct {
	status int
	header *handler.Headers
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(st handler.Status, h *handler.Headers) error {
	r.status, r.header = st.Code, h
	return nil
}
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) Flush() error                { return nil }

// serve runs one request for path through a pipeline on app.
func serve(t *testing.T, h *handler.Handler, method, path string, body []byte) (*recorder, handler.Result) {
	t.Helper()
	env := map[string]string{
		"REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": path, "REQUEST_URI": path,
		"SERVER_PROTOCOL": "HTTP/1.1", "SERVER_NAME": "test", "SERVER_PORT": "80", "X_VAR": "from-env",
		"SCRIPT_FILENAME": "/srv/app" + path,
	}
	req := &handler.Request{Env: env}
	if body != nil {
		env["CONTENT_LENGTH"] = strconv.Itoa(len(body))
		req.Body = bytes.NewReader(body)
	}
	rec := &recorder{}
	res := h.Serve(context.Background(), req, rec)
	return rec, res
}

func pipeline(t *testing.T, app handler.App, cfg handler.Config) *handler.Handler {
	t.Helper()
	cfg.App = app
	h, err := handler.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func newLogger(w io.Writer) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Output: w, Level: hclog.Debug})
}
