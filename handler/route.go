package handler

import (
	"errors"
	"io/fs"
	"iter"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"gatewayd/environ"
)

// route chooses what runs for env (pipeline step 2) and returns the call
// with the program's environment: a copy of env, so that a local redirect
// starts again from the front-end's variables.
func (h *Handler) route(env environ.Environ) (*Call, error) {
	env = env.Clone()
	switch {
	case h.root != "":
		return h.findUnderRoot(env)
	case h.cfg.Program != "":
		setDefault(env, "SCRIPT_FILENAME", h.cfg.Program)
		return &Call{Env: env, Program: h.cfg.Program, Args: h.cfg.Args}, nil
	default:
		return &Call{Env: env}, nil
	}
}

// findScript maps PATH_INFO onto the script root: the first path segment,
// walking down from the root, that names an existing file is the script, and
// what follows it is the new PATH_INFO. The script must be a regular,
// executable file whose real path, symlinks resolved, lies inside the root:
// a name that does not exist, or a directory, gives 404; ".." in the path, a
// symlink out of the root, or a file that is not executable gives 403.
func (h *Handler) findScript(env environ.Environ) (*Call, error) {
	pi := env["PATH_INFO"]
	if !strings.HasPrefix(pi, "/") {
		return nil, Errorf(http.StatusNotFound, "handler: no script in path %q", pi)
	}
	dir, rest := h.root, pi[1:]
	for {
		seg, tail, more := strings.Cut(rest, "/")
		switch seg {
		case "..":
			return nil, Errorf(http.StatusForbidden, "handler: %q leaves the root", pi)
		case "", ".":
			if !more {
				return nil, Errorf(http.StatusNotFound, "handler: %q names a directory", pi)
			}
			rest = tail
			continue
		}
		cand := filepath.Join(dir, seg)
		fi, err := os.Stat(cand)
		switch {
		case errors.Is(err, fs.ErrPermission):
			return nil, &Error{Status: http.StatusForbidden, Err: err}
		case err != nil:
			return nil, &Error{Status: http.StatusNotFound, Err: err}
		case fi.IsDir():
			if !more {
				return nil, Errorf(http.StatusNotFound, "handler: %q names a directory", pi)
			}
			dir, rest = cand, tail
			continue
		}
		if err := h.checkScript(cand, fi); err != nil {
			return nil, err
		}
		cut := len(pi) - len(tail)
		if more {
			cut-- // PATH_INFO keeps its leading '/'
		}
		env["SCRIPT_NAME"] += pi[:cut]
		env["PATH_INFO"] = pi[cut:]
		env["SCRIPT_FILENAME"] = cand
		setDefault(env, "DOCUMENT_ROOT", h.root)
		if p := env["PATH_INFO"]; p != "" {
			// RFC 3875 §4.1.6: PATH_INFO mapped onto the document root.
			env["PATH_TRANSLATED"] = filepath.Join(env["DOCUMENT_ROOT"], filepath.FromSlash(p))
		} else {
			delete(env, "PATH_TRANSLATED")
		}
		return h.scriptCall(env, cand), nil
	}
}

// findUnderRoot finds the script of a request under the script root:
//
//   - the SCRIPT_FILENAME a web server sent, exactly, as fcgiwrap runs it —
//     unless it names a directory (lighttpd's fix-root-scriptname sends the
//     document root), when the path decides;
//   - else, when a web server sent DOCUMENT_ROOT, the longest prefix of
//     DOCUMENT_ROOT + SCRIPT_NAME + PATH_INFO, cut at a '/', that names a
//     file, as fcgiwrap walks DOCUMENT_ROOT + SCRIPT_NAME; what was cut off
//     becomes PATH_INFO. A local redirect (SCRIPT_NAME "", PATH_INFO its
//     path) is found the same way, under the web server's document root;
//   - else, or when nothing is found there, the PATH_INFO walk of
//     findScript from the script root (the HTTP front-end's way).
//
// Whichever way, CheckScript has the last word.
func (h *Handler) findUnderRoot(env environ.Environ) (*Call, error) {
	if path := env["SCRIPT_FILENAME"]; path != "" {
		fi, err := os.Stat(path)
		switch {
		case err != nil:
			return nil, statError(err)
		case !fi.IsDir():
			if err := h.checkScript(path, fi); err != nil {
				return nil, err
			}
			return h.scriptCall(env, path), nil
		}
		delete(env, "SCRIPT_FILENAME")
	}
	if env["DOCUMENT_ROOT"] != "" {
		c, err := h.scriptUnderDocumentRoot(env.Clone())
		if StatusOf(err) != http.StatusNotFound {
			return c, err
		}
		// The web server's document root need not be the script root
		// (nginx's default html directory with location / → gatewayd):
		// the whole path maps onto the root as it does over HTTP.
		// Under a mount, the walk starts below its prefix.
		url := env["SCRIPT_NAME"] + env["PATH_INFO"]
		env["SCRIPT_NAME"] = h.prefix
		env["PATH_INFO"] = strings.TrimPrefix(url, h.prefix)
	}
	return h.findScript(env)
}

// scriptUnderDocumentRoot walks DOCUMENT_ROOT + SCRIPT_NAME + PATH_INFO
// back to the longest prefix that names a file (see findUnderRoot). A
// directory is passed over, and so is a prefix that does not exist or has
// a file in its way; any other stat error ends the walk with 403 or 404.
func (h *Handler) scriptUnderDocumentRoot(env environ.Environ) (*Call, error) {
	root := env["DOCUMENT_ROOT"]
	url := env["SCRIPT_NAME"] + env["PATH_INFO"]
	full := root + url
	for path, pi := range PathSplits(full, "/", len(root)) {
		fi, err := os.Stat(path)
		if err == nil && !fi.IsDir() {
			if err := h.checkScript(path, fi); err != nil {
				return nil, err
			}
			env["SCRIPT_NAME"], env["PATH_INFO"] = url[:len(url)-len(pi)], pi
			env["SCRIPT_FILENAME"] = path
			if pi != "" {
				setDefault(env, "PATH_TRANSLATED", filepath.Join(root, filepath.FromSlash(pi)))
			}
			return h.scriptCall(env, path), nil
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return nil, statError(err)
		}
	}
	return nil, Errorf(http.StatusNotFound, "handler: no script in %s", full)
}

// PathSplits returns the ways p, a file path that may go on with path info
// (RFC 3875 §4.1.5), splits into a file and that path info, the longest
// file first: p itself with "", then each prefix of p that ends before one
// of the bytes of seps, with the rest of p from that separator on. Files of
// minLen bytes or fewer are not given, so that a walk under a directory
// stays under it.
//
// The first of them that names an existing file is the script and the
// rest its path info, as fcgiwrap walks DOCUMENT_ROOT + SCRIPT_NAME, a
// script root DOCUMENT_ROOT + SCRIPT_NAME + PATH_INFO and the CGI
// front-end the PATH_TRANSLATED of an Apache Action: with app.cgi a file,
// "/srv/www/app.cgi/x/y" is the script "/srv/www/app.cgi" and the path
// info "/x/y". What a directory or a stat error means is the caller's to
// say.
func PathSplits(p, seps string, minLen int) iter.Seq2[string, string] {
	return func(yield func(file, pathInfo string) bool) {
		for file := p; len(file) > minLen; {
			if !yield(file, p[len(file):]) {
				return
			}
			i := strings.LastIndexAny(file, seps)
			if i < 0 {
				return
			}
			file = file[:i]
		}
	}
}

// statError is the status for a script that cannot be looked at.
func statError(err error) error {
	if errors.Is(err, fs.ErrPermission) {
		return &Error{Status: http.StatusForbidden, Err: err}
	}
	return &Error{Status: http.StatusNotFound, Err: err}
}

// checkScript is CheckScript under the script root, without the check
// that the file may be run when the App reads scripts (ScriptFiles).
func (h *Handler) checkScript(path string, fi fs.FileInfo) error {
	if h.cfg.ScriptFiles {
		return checkFile(path, fi, h.root)
	}
	return CheckScript(path, fi, h.root)
}

// scriptCall is the call that runs the script at path: as the program,
// or, when the App reads scripts (ScriptFiles), named by SCRIPT_FILENAME
// alone.
func (h *Handler) scriptCall(env environ.Environ, path string) *Call {
	if h.cfg.ScriptFiles {
		env["SCRIPT_FILENAME"] = path
		return &Call{Env: env}
	}
	return &Call{Env: env, Program: path}
}

// CheckScript allows the file at path, whose FileInfo is fi, to run as a
// script only if it is a regular file that may be run (Executable) and,
// when root is not "", its real path, symlinks resolved, lies inside root,
// itself a real path. Its errors are *Error values with status 403.
func CheckScript(path string, fi fs.FileInfo, root string) error {
	if err := checkFile(path, fi, root); err != nil {
		return err
	}
	if !Executable(path, fi) {
		return Errorf(http.StatusForbidden, "handler: %s is not executable", path)
	}
	return nil
}

// checkFile is CheckScript without the check that the file may be run.
func checkFile(path string, fi fs.FileInfo, root string) error {
	if !fi.Mode().IsRegular() {
		return Errorf(http.StatusForbidden, "handler: %s is not a regular file", path)
	}
	if root != "" && !realBelow(path, root) {
		real, err := filepath.EvalSymlinks(path)
		if err != nil {
			return &Error{Status: http.StatusForbidden, Err: err}
		}
		if real != root && !strings.HasPrefix(real, root+string(filepath.Separator)) {
			return Errorf(http.StatusForbidden, "handler: %s resolves to %s, outside the root", path, real)
		}
	}
	return nil
}

// RequestPath returns the URL path of a request whose web server sent
// neither SCRIPT_NAME nor PATH_INFO (nginx's stock scgi_params), made as
// the HTTP front-end makes PATH_INFO: DOCUMENT_URI (nginx's $uri, already
// decoded and normalised) when it was sent, else the path of REQUEST_URI —
// a request target in origin or absolute form, cut before its '?' or '#' —
// percent-decoded, or raw when it does not decode, with a run of leading
// slashes collapsed to one. ok is false when neither was sent.
func RequestPath(env environ.Environ) (path string, ok bool) {
	if p, ok := env["DOCUMENT_URI"]; ok {
		return p, true
	}
	uri, ok := env["REQUEST_URI"]
	if !ok {
		return "", false
	}
	raw, _, _ := strings.Cut(uri, "?")
	raw, _, _ = strings.Cut(raw, "#")
	p := raw
	if u, err := url.ParseRequestURI(raw); err == nil {
		p = u.Path
	}
	return "/" + strings.TrimLeft(p, "/"), true
}

// redirectEnv returns the environment of a local redirect to loc (RFC 3875
// §6.2.2): a GET without a body for loc's path and query.
func redirectEnv(env environ.Environ, loc string) environ.Environ {
	e := env.Clone()
	loc, _, _ = strings.Cut(loc, "#")
	path, query, _ := strings.Cut(loc, "?")
	if p, err := url.PathUnescape(path); err == nil {
		path = p
	}
	e["REQUEST_METHOD"] = "GET"
	e["REQUEST_URI"] = loc
	e["SCRIPT_NAME"] = ""
	e["PATH_INFO"] = path
	e["QUERY_STRING"] = query
	for _, k := range []string{"CONTENT_LENGTH", "CONTENT_TYPE", "PATH_TRANSLATED", "SCRIPT_FILENAME"} {
		delete(e, k)
	}
	return e
}
