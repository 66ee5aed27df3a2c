package cgi

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"

	"gatewayd/environ"
	"gatewayd/handler"
)

// script finds the program that an Apache Action or an IIS script map asks
// gatewayd to run, from PATH_TRANSLATED, and makes env that program's own
// (see the package doc). Its errors are *handler.Error values with the
// status the client gets.
func script(env environ.Environ, iis bool) (string, error) {
	if _, ok := env["REDIRECT_STATUS"]; !ok && !iis {
		return "", handler.Errorf(http.StatusForbidden,
			"cgi: no PROGRAM and no REDIRECT_STATUS: PATH_TRANSLATED is run only behind Apache's Action or with --iis")
	}
	pt := env["PATH_TRANSLATED"]
	if pt == "" {
		return "", handler.Errorf(http.StatusNotFound, "cgi: no PATH_TRANSLATED names a script")
	}
	pi, sn := env["PATH_INFO"], env["SCRIPT_NAME"]
	if iis && (sn == "" || !strings.HasPrefix(pi+"/", sn+"/")) {
		// allowPathInfo="true": PATH_TRANSLATED maps the path info alone.
		return "", handler.Errorf(http.StatusForbidden,
			"cgi: PATH_INFO %q does not begin with SCRIPT_NAME %q, so PATH_TRANSLATED does not name the script (--iis needs allowPathInfo=\"false\")", pi, sn)
	}
	file, rest, err := findFile(pt)
	if err != nil {
		return "", err
	}
	extra := filepath.ToSlash(rest) // the path info, in URL form
	var url string                  // the URL path of the script
	if iis {
		// allowPathInfo="false": PATH_INFO is SCRIPT_NAME and the path
		// info, and PATH_TRANSLATED maps it, or names the script alone.
		if extra != "" && !strings.EqualFold(pi[len(sn):], extra) {
			return "", handler.Errorf(http.StatusForbidden,
				"cgi: PATH_TRANSLATED %q does not map PATH_INFO %q", pt, pi)
		}
		url = sn
	} else {
		// Action: PATH_INFO is the URL path the client asked for, and
		// PATH_TRANSLATED its file followed by the same path info.
		if !strings.HasSuffix(pi, extra) {
			return "", handler.Errorf(http.StatusForbidden,
				"cgi: PATH_TRANSLATED %q does not map PATH_INFO %q", pt, pi)
		}
		url = pi[:len(pi)-len(extra)]
	}
	if !strings.EqualFold(path.Base(url), filepath.Base(file)) {
		return "", handler.Errorf(http.StatusForbidden,
			"cgi: PATH_TRANSLATED %q names %s, not the script of %q", pt, file, url)
	}
	env["SCRIPT_FILENAME"] = file
	if iis {
		return file, nil // iis.Fix corrects the rest
	}
	env["SCRIPT_NAME"] = url
	if extra == "" {
		delete(env, "PATH_INFO")
		delete(env, "PATH_TRANSLATED")
	} else {
		env["PATH_INFO"] = extra
		if root := env["DOCUMENT_ROOT"]; root != "" {
			env["PATH_TRANSLATED"] = strings.TrimRight(root, separators) + rest
		} else {
			delete(env, "PATH_TRANSLATED")
		}
	}
	return file, nil
}

// findFile returns the longest part of p, cut before a separator, that
// names an existing file, and what follows it: "/srv/www/app.cgi/x/y" gives
// "/srv/www/app.cgi" and "/x/y" when app.cgi is a file (handler.PathSplits).
// The file must be a regular file that may be run (handler.CheckScript,
// with no root: the web server chose the file). A directory ends the walk
// with 404; a part that cannot be looked at is passed over, unless for
// want of permission (403).
func findFile(p string) (file, rest string, err error) {
	for cand, pathInfo := range handler.PathSplits(p, separators, 0) {
		fi, err := os.Stat(cand)
		switch {
		case err == nil && fi.IsDir():
			return "", "", handler.Errorf(http.StatusNotFound, "cgi: PATH_TRANSLATED %q names no file", p)
		case err == nil:
			if err := handler.CheckScript(cand, fi, ""); err != nil {
				return "", "", err
			}
			return cand, pathInfo, nil
		case errors.Is(err, fs.ErrPermission):
			return "", "", &handler.Error{Status: http.StatusForbidden, Err: err}
		}
	}
	return "", "", handler.Errorf(http.StatusNotFound, "cgi: PATH_TRANSLATED %q names no file", p)
}

// refused is the App of a request that must not run anything: its Start
// returns the error, a *handler.Error whose status the pipeline answers
// with.
type refused struct{ err error }

func (r refused) Start(context.Context, *handler.Call) (handler.Run, error) { return nil, r.err }
