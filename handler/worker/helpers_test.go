package worker_test

import (
	"bytes"
	"context"
	"io"
	"net"
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

// serveRecords is a scripted FastCGI application on l, for the cases a
// real one does not show: it reads each record whole and writes what
// answer returns for its type, until l closes.
func serveRecords(l net.Listener, answer func(recType byte) []byte) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			var h [8]byte
			for {
				if _, err := io.ReadFull(c, h[:]); err != nil {
					return
				}
				n := int(h[4])<<8 | int(h[5]) + int(h[6])
				if _, err := io.CopyN(io.Discard, c, int64(n)); err != nil {
					return
				}
				if b := answer(h[1]); b != nil {
					c.Write(b)
				}
			}
		}()
	}
}
