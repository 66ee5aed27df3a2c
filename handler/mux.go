package handler

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/hashicorp/go-hclog"

	"gatewayd/environ"
)

// Mount is one entry of a Mux: the pipeline that serves the requests under
// Prefix.
type Mount struct {
	// Prefix is "/" or a path of whole segments with no trailing slash,
	// such as "/git".
	Prefix string
	// Handler serves the mount's requests, with the mount's own program,
	// script root, environment and limits.
	Handler *Handler
}

// Mux serves each request through the mount whose prefix is the longest
// that matches whole segments of the request's URL path: "/git" takes
// "/git" and "/git/x", not "/gitx". The prefix moves from PATH_INFO to
// SCRIPT_NAME, as wsgiref's shift_path_info moves segments, so the program
// of a mount at "/git" sees SCRIPT_NAME "/git" and the rest of the path in
// PATH_INFO. A mount at "/" takes what no other takes, and its requests
// keep the SCRIPT_NAME and PATH_INFO the front-end gave them. A request no
// mount takes gets 404 and one log line.
//
// The URL path is SCRIPT_NAME + PATH_INFO when either is set (what the
// HTTP front-end and web servers send), else RequestPath's: DOCUMENT_URI
// (nginx's $uri), else the percent-decoded path of REQUEST_URI.
//
// A local redirect (RFC 3875 §6.2.2) is routed again through the Mux, so it
// may land in another mount; it keeps the request's overall timeout.
type Mux struct {
	mounts   []mountEntry // longest prefix first
	notFound *Handler     // answers what no mount serves, and refused requests
}

type mountEntry struct {
	prefix string // "" for "/"
	h      *Handler
}

// NewMux returns a Mux for mounts. Prefixes must be "/" or start with '/',
// have no trailing '/', no empty, "." or ".." segment, and be unique. A
// Handler must serve one Mux only. log receives the line of each request
// that no mount takes, and the Observer of the first mount its Outcome,
// with Mount "".
func NewMux(mounts []Mount, log hclog.Logger) (*Mux, error) {
	m := &Mux{}
	seen := map[string]bool{}
	for _, mt := range mounts {
		if err := checkPrefix(mt.Prefix); err != nil {
			return nil, err
		}
		if seen[mt.Prefix] {
			return nil, fmt.Errorf("handler: mount %q given twice", mt.Prefix)
		}
		if mt.Handler == nil {
			return nil, fmt.Errorf("handler: mount %q has no handler", mt.Prefix)
		}
		seen[mt.Prefix] = true
		p := strings.TrimSuffix(mt.Prefix, "/")
		mt.Handler.mux, mt.Handler.prefix = m, p
		m.mounts = append(m.mounts, mountEntry{prefix: p, h: mt.Handler})
	}
	sort.SliceStable(m.mounts, func(i, j int) bool { return len(m.mounts[i].prefix) > len(m.mounts[j].prefix) })
	// What no mount takes is observed as the mounts are.
	var obs Observer
	if len(m.mounts) > 0 {
		obs = m.mounts[0].h.cfg.Observer
	}
	nf, err := New(Config{App: notFound{}, Logger: log, Observer: obs})
	if err != nil {
		return nil, err
	}
	nf.mux = m
	m.notFound = nf
	return m, nil
}

func checkPrefix(p string) error {
	if p == "/" {
		return nil
	}
	if !strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") {
		return fmt.Errorf("handler: mount prefix %q must start with '/' and not end with one", p)
	}
	for _, seg := range strings.Split(p[1:], "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("handler: mount prefix %q has an empty, \".\" or \"..\" segment", p)
		}
	}
	return nil
}

// Serve implements Server.
func (m *Mux) Serve(ctx context.Context, req *Request, w ResponseWriter) Result {
	if req.Env == nil {
		req.Env = environ.Environ{}
	}
	if req.Refuse != nil {
		return m.notFound.Serve(ctx, req, w) // refused before any routing
	}
	return m.pick(req.Env).Serve(ctx, req, w)
}

// pick chooses the mount of env and shifts its prefix into SCRIPT_NAME;
// with no mount, the handler that answers 404.
func (m *Mux) pick(env environ.Environ) *Handler {
	path := urlPath(env)
	for _, mt := range m.mounts {
		if mt.prefix == "" {
			return mt.h // "/": the front-end's split stands
		}
		if path == mt.prefix || strings.HasPrefix(path, mt.prefix+"/") {
			env["SCRIPT_NAME"] = mt.prefix
			env["PATH_INFO"] = path[len(mt.prefix):]
			return mt.h
		}
	}
	return m.notFound
}

// urlPath is the path a request is routed by (see Mux).
func urlPath(env environ.Environ) string {
	sn, pi := env["SCRIPT_NAME"], env["PATH_INFO"]
	if sn != "" || pi != "" {
		return sn + pi
	}
	if p, ok := RequestPath(env); ok {
		return p
	}
	return ""
}

// notFound is the app of requests no mount takes.
type notFound struct{}

func (notFound) Start(_ context.Context, c *Call) (Run, error) {
	return nil, Errorf(http.StatusNotFound, "handler: no mount for %q", c.Env["SCRIPT_NAME"]+c.Env["PATH_INFO"])
}
