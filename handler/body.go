package handler

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
)

// prepareBody returns the body the program reads: exactly CONTENT_LENGTH
// bytes and then EOF (RFC 3875 §4.2). A body of unknown length is read
// first, up to MaxBody, so that the program gets a real CONTENT_LENGTH;
// with StreamUnknownLength it is passed as it comes instead. With
// ReadBodyFirst a body of known length is read whole before the program
// starts too, and one that ends early means the client went away. cleanup
// releases what prepareBody took.
func (s *serve) prepareBody(body io.Reader) (in io.Reader, cleanup func(), err error) {
	cleanup = func() {}
	cl, known := s.env["CONTENT_LENGTH"]
	if known {
		n, err := strconv.ParseInt(cl, 10, 64)
		if err != nil || n < 0 || cl[0] == '+' {
			return nil, cleanup, Errorf(http.StatusBadRequest, "handler: bad CONTENT_LENGTH %q", cl)
		}
		if n > s.h.cfg.MaxBody {
			return nil, cleanup, Errorf(http.StatusRequestEntityTooLarge,
				"handler: body of %d bytes over the limit of %d", n, s.h.cfg.MaxBody)
		}
		if n == 0 || body == nil {
			return http.NoBody, cleanup, nil
		}
		if !s.h.cfg.ReadBodyFirst {
			return s.act.pipedReader(body, n), cleanup, nil
		}
		in, got, cleanup, err := s.buffer(s.act.reader(io.LimitReader(body, n)))
		if err != nil {
			return nil, cleanup, err
		}
		if got < n {
			cleanup()
			return nil, func() {}, fmt.Errorf("%w: the body ended after %d of %d bytes: %w",
				errClientGone, got, n, io.ErrUnexpectedEOF)
		}
		return in, cleanup, nil
	}
	if body == nil || body == http.NoBody {
		return http.NoBody, cleanup, nil
	}
	if s.h.cfg.StreamUnknownLength {
		return s.act.pipedReader(body, -1), cleanup, nil
	}
	max := s.h.cfg.MaxBody
	in, n, cleanup, err := s.buffer(s.act.reader(io.LimitReader(body, max+1)))
	switch {
	case err != nil:
		return nil, cleanup, err
	case n > max:
		cleanup()
		return nil, func() {}, s.bodyErr(nil)
	case n == 0:
		cleanup()
		return http.NoBody, func() {}, nil
	}
	s.env["CONTENT_LENGTH"] = strconv.FormatInt(n, 10)
	return in, cleanup, nil
}

// buffer reads body to its end: into memory while it is small, growing
// with the data (most such bodies are empty, as nginx's GETs, or small),
// else into an unlinked temporary file. cleanup releases it.
func (s *serve) buffer(body io.Reader) (in io.Reader, n int64, cleanup func(), err error) {
	var head bytes.Buffer
	n, err = head.ReadFrom(io.LimitReader(body, memoryBody))
	if err != nil {
		return nil, 0, func() {}, s.bodyErr(err)
	}
	if n < memoryBody {
		return bytes.NewReader(head.Bytes()), n, func() {}, nil
	}
	f, total, cleanup, err := s.spool(io.MultiReader(&head, body))
	if err != nil {
		return nil, 0, func() {}, err
	}
	return f, total, cleanup, nil
}

// memoryBody is the largest body of unknown length kept in memory.
const memoryBody = 64 << 10

// spool copies body to an unlinked temporary file and rewinds it; cleanup
// closes it.
func (s *serve) spool(body io.Reader) (f *os.File, n int64, cleanup func(), err error) {
	f, err = os.CreateTemp(s.h.cfg.TempDir, "gatewayd-body-")
	if err != nil {
		return nil, 0, nil, fmt.Errorf("handler: spool body: %w", err)
	}
	// POSIX keeps an unlinked file readable through its descriptor, so
	// nothing is left behind whatever happens; Windows refuses to remove an
	// open file, so there it goes when it is closed.
	unlinked := os.Remove(f.Name()) == nil
	cleanup = func() {
		f.Close()
		if !unlinked {
			os.Remove(f.Name())
		}
	}
	n, err = io.Copy(f, body)
	if err == nil && n > s.h.cfg.MaxBody {
		err = s.bodyErr(nil)
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		cleanup()
		return nil, 0, nil, s.bodyErr(err)
	}
	return f, n, cleanup, nil
}

// bodyErr says why a body of unknown length could not be read: nil means
// it was over the limit.
func (s *serve) bodyErr(err error) error {
	var he *Error
	switch {
	case err == nil:
		return Errorf(http.StatusRequestEntityTooLarge, "handler: body over the limit of %d bytes", s.h.cfg.MaxBody)
	case errors.As(err, &he):
		return err
	case s.ctx.Err() != nil:
		return s.cause(err)
	default:
		return Errorf(http.StatusBadRequest, "handler: read body: %w", err)
	}
}
