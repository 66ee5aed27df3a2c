// Package demo is gatewayd's built-in demo app, the counterpart of wsgiref's
// demo_app: a page that says "Hello world!" and lists the request's
// environment sorted by name, one "NAME = 'value'" line each. It runs in the
// gateway's own process (App) or as a CGI program (`gatewayd demo`, Write).
package demo

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strconv"
	"unicode/utf8"

	"gatewayd/environ"
	"gatewayd/handler"
)

// Write writes the demo page for env to w as a complete CGI response.
func Write(w io.Writer, env environ.Environ) error {
	body := Body(env)
	var b bytes.Buffer
	b.WriteString("Status: 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ")
	b.WriteString(strconv.Itoa(len(body)))
	b.WriteString("\r\n\r\n")
	b.Write(body)
	_, err := w.Write(b.Bytes())
	return err
}

// Body returns the demo page's body for env.
func Body(env environ.Environ) []byte {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b bytes.Buffer
	b.WriteString("Hello world!\n\n")
	for _, k := range keys {
		b.WriteString(k)
		b.WriteString(" = ")
		writeRepr(&b, env[k])
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// writeRepr writes v quoted the way Python's repr quotes a string: in single
// quotes unless v holds a single quote and no double quote, with backslash,
// the quote, \t, \n and \r escaped and other control bytes as \xNN. Valid
// UTF-8 is written as it is; a byte that is not valid UTF-8 is shown \xNN.
func writeRepr(b *bytes.Buffer, v string) {
	q := byte('\'')
	if bytes.IndexByte([]byte(v), '\'') >= 0 && bytes.IndexByte([]byte(v), '"') < 0 {
		q = '"'
	}
	const hex = "0123456789abcdef"
	b.WriteByte(q)
	for i := 0; i < len(v); {
		r, n := utf8.DecodeRuneInString(v[i:])
		c := v[i]
		switch {
		case c == q || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c < 0x20 || c == 0x7f || r == utf8.RuneError && n == 1 || r >= 0x80 && r < 0xa0:
			for _, x := range []byte(v[i : i+n]) {
				b.WriteString(`\x`)
				b.WriteByte(hex[x>>4])
				b.WriteByte(hex[x&15])
			}
		default:
			b.WriteString(v[i : i+n])
		}
		i += n
	}
	b.WriteByte(q)
}

// App serves the demo page in the gateway's process.
type App struct{}

// Start implements handler.App.
func (App) Start(_ context.Context, c *handler.Call) (handler.Run, error) {
	var b bytes.Buffer
	Write(&b, c.Env)
	return run{&b}, nil
}

type run struct{ *bytes.Buffer }

func (run) Wait() handler.Exit { return handler.Exit{} }
