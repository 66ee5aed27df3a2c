package handler

import (
	"bytes"
	"io"
)

// ResponseWriter is where the pipeline emits a response. Each front-end
// provides one that encodes it for its protocol; the pipeline calls
// WriteHeader once, then Write, and Flush whenever the program's output
// pauses. The response is complete when Handler.Serve returns; what a
// protocol sends at the end (FastCGI's END_REQUEST, a final flush) is the
// front-end's to send.
type ResponseWriter interface {
	// WriteHeader sends the status and the header fields. The writer must
	// not keep h after it returns.
	WriteHeader(s Status, h *Headers) error
	// Write sends body bytes.
	Write(p []byte) (int, error)
	// Flush sends what is buffered on to the client.
	Flush() error
}

// RawWriter is implemented by ResponseWriters that can pass a non-parsed
// header response through unmodified (RFC 3875 §5.2): the HTTP front-end.
// Others get NPH output converted to a parsed response.
type RawWriter interface {
	// Raw returns the client connection for the whole response, status line
	// included. The pipeline closes it when done; no further request is read
	// from that connection.
	Raw() (io.WriteCloser, error)
}

// GatewayWriter emits a response in gateway form, the form a CGI program
// gives its web server (RFC 3875 §6): "Status: 200 OK", the header fields,
// a blank line and the body, exactly as wsgiref's BaseCGIHandler does
// (origin_server False): no Date and no Server are added. It does not
// buffer: the header block goes to the underlying writer in one Write, body
// bytes as they come.
type GatewayWriter struct {
	w io.Writer
}

// NewGatewayWriter returns a GatewayWriter writing to w.
func NewGatewayWriter(w io.Writer) *GatewayWriter { return &GatewayWriter{w: w} }

// WriteHeader writes "Status: <status>\r\n" and the header block.
func (g *GatewayWriter) WriteHeader(s Status, h *Headers) error {
	var b bytes.Buffer
	b.WriteString("Status: ")
	b.WriteString(s.String())
	b.WriteString("\r\n")
	h.WriteTo(&b)
	_, err := g.w.Write(b.Bytes())
	return err
}

// Write writes body bytes.
func (g *GatewayWriter) Write(p []byte) (int, error) { return g.w.Write(p) }

// Flush flushes the underlying writer if it has a Flush method.
func (g *GatewayWriter) Flush() error {
	switch f := g.w.(type) {
	case interface{ Flush() error }:
		return f.Flush()
	case interface{ Flush() }:
		f.Flush()
	}
	return nil
}
