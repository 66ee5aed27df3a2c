package handler_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"gatewayd/environ"
	"gatewayd/handler"
)

// sender is a front-end's body that can write itself into a pipe: it
// offers each piece to TryWrite first, as a connection's read loop does,
// and waits in Write only for what did not fit. Pieces come pause apart.
type sender struct {
	io.Reader
	pieces []string
	pause  time.Duration
}

func (s *sender) PipeTo(p handler.Pipe) (int64, error) {
	var total int64
	for _, piece := range s.pieces {
		time.Sleep(s.pause)
		n, err := p.TryWrite([]byte(piece))
		if err == nil && n < len(piece) {
			var m int
			m, err = p.Write([]byte(piece[n:]))
			n += m
		}
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// smallPipe takes three bytes at a time without waiting.
type smallPipe struct{ bytes.Buffer }

func (p *smallPipe) TryWrite(v ...[]byte) (int, error) {
	n := 0
	for _, b := range v {
		m, _ := p.Write(b[:min(len(b), 3-n)])
		n += m
	}
	return n, nil
}

// pipeApp pipes the body into a smallPipe and answers with what it got.
type pipeApp struct{}

func (pipeApp) Start(ctx context.Context, c *handler.Call) (handler.Run, error) {
	var got smallPipe
	if pb, ok := c.Body.(handler.PipeBody); ok {
		pb.PipeTo(&got)
	}
	if err := ctx.Err(); err != nil {
		return nil, err // a timeout ended the request meanwhile
	}
	return pipedRun{strings.NewReader(fmt.Sprintf("Content-Type: text/plain\r\n\r\npiped %q", got.String()))}, nil
}

type pipedRun struct{ io.Reader }

func (pipedRun) Wait() handler.Exit { return handler.Exit{} }

// A body that writes itself into the program's stdin: the pipeline passes
// on its first CONTENT_LENGTH bytes, and the rest never reaches the pipe.
func ExamplePipeBody() {
	h, _ := handler.New(handler.Config{App: pipeApp{}})
	req := &handler.Request{
		Env: environ.Environ{"REQUEST_METHOD": "POST", "SERVER_PROTOCOL": "HTTP/1.1", "SCRIPT_NAME": "",
			"CONTENT_LENGTH": "9"},
		Body: &sender{pieces: []string{"hello", ", world", "!"}},
	}
	var out strings.Builder
	h.Serve(context.Background(), req, handler.NewGatewayWriter(&out))
	fmt.Print(strings.ReplaceAll(out.String(), "\r\n", "\n"))
	// Output:
	// Status: 200 OK
	// Content-Type: text/plain
	//
	// piped "hello, wo"
}
