package handler

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
)

// prepareBody returns the body the program reads: exactly CONTENT_LENGTH
// bytes and then EOF (RFC 3875 §4.2). A body of unknown length is spooled to
// an unlinked temporary file, up to MaxBody, so that the program gets a real
// CONTENT_LENGTH; with StreamUnknownLength it is passed as it comes instead.
// cleanup releases what prepareBody took.
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
		return s.act.reader(io.LimitReader(body, n)), cleanup, nil
	}
	if body == nil || body == http.NoBody {
		return http.NoBody, cleanup, nil
	}
	if s.h.cfg.StreamUnknownLength {
		return s.act.reader(body), cleanup, nil
	}
	f, n, err := s.spool(body)
	if err != nil {
		return nil, cleanup, err
	}
	if n == 0 {
		f.Close()
		return http.NoBody, cleanup, nil
	}
	s.env["CONTENT_LENGTH"] = strconv.FormatInt(n, 10)
	return f, func() { f.Close() }, nil
}

// spool copies body to an unlinked temporary file and rewinds it.
func (s *serve) spool(body io.Reader) (*os.File, int64, error) {
	f, err := os.CreateTemp(s.h.cfg.TempDir, "gatewayd-body-")
	if err != nil {
		return nil, 0, fmt.Errorf("handler: spool body: %w", err)
	}
	os.Remove(f.Name()) // the open descriptor keeps it; nothing is left behind
	max := s.h.cfg.MaxBody
	n, err := io.Copy(f, s.act.reader(io.LimitReader(body, max+1)))
	if err == nil && n > max {
		err = Errorf(http.StatusRequestEntityTooLarge, "handler: body over the limit of %d bytes", max)
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		if s.ctx.Err() != nil {
			return nil, 0, s.cause(err)
		}
		var he *Error
		if !errors.As(err, &he) {
			err = Errorf(http.StatusBadRequest, "handler: read body: %w", err)
		}
		return nil, 0, err
	}
	return f, n, nil
}
