// Package iis holds the quirks of Microsoft IIS as a CGI host, and nothing
// else: the PATH_INFO fix-up of wsgiref's IISCGIHandler, the matching
// correction of PATH_TRANSLATED, and IIS detection from SERVER_SOFTWARE.
//
// # PATH_INFO
//
// Unless a handler mapping sets allowPathInfo="true" (IIS 6:
// AllowPathInfoForScriptMappings), IIS gives a CGI program the whole URL
// path as PATH_INFO: SCRIPT_NAME followed by the real path info
// ("/app.exe/x" for /app.exe/x). Fix strips SCRIPT_NAME off the front
// exactly as wsgiref.handlers.IISCGIHandler does: only on a
// segment boundary, case-sensitively, once, and never touching SCRIPT_NAME.
//
// There is no reliable automatic detection of the duplicated PATH_INFO: IIS
// sends the same variables whether allowPathInfo is on or off, and a real
// path info may itself begin with the script's name (/app.exe/app.exe/x). So
// the fix-up is never applied on a guess; the administrator turns it on
// (`gatewayd cgi --iis`) for mappings that keep IIS's default
// allowPathInfo="false". With allowPathInfo="true" IIS already sends RFC 3875
// values, and the fix-up would wrongly shorten a path info that repeats the
// script name. Detect only says whether SERVER_SOFTWARE names IIS.
//
// # PATH_TRANSLATED
//
// PATH_TRANSLATED is IIS's mapping of its PATH_INFO onto the file system, so
// when PATH_INFO is SCRIPT_NAME plus the path info, PATH_TRANSLATED is the
// script's file plus the path info (C:\site\app.exe\x), or, in some IIS
// versions, the script's file alone. RFC 3875 §4.1.6 wants the mapping of
// the path info alone. When Fix changes PATH_INFO it corrects
// PATH_TRANSLATED too; a file path here is the URL path with '/' as '\'
// (or '/' when PATH_TRANSLATED holds no '\'), compared ASCII
// case-insensitively as Windows compares file names:
//
//   - PATH_TRANSLATED ends with the old PATH_INFO: what precedes it is the
//     site's root directory; PATH_TRANSLATED becomes root + new PATH_INFO.
//   - PATH_TRANSLATED ends with SCRIPT_NAME (it names the script alone): the
//     same, with the root in front of SCRIPT_NAME.
//   - Otherwise (a virtual directory mapped elsewhere) the root is unknown
//     and PATH_TRANSLATED is removed: RFC 3875 allows it to be unset, and a
//     value known to be wrong is worse than none.
//
// PATH_TRANSLATED is removed too when the new PATH_INFO is empty (RFC 3875
// §4.1.6: NULL PATH_INFO, no PATH_TRANSLATED).
//
// IIS's PATH_TRANSLATED is also the only place where IIS names the script's
// file, and programs written for IIS (php-cgi) read it from there. So
// before correcting it, Fix records the script's file in SCRIPT_FILENAME,
// where Apache and nginx put it, unless SCRIPT_FILENAME is already set: the
// old PATH_TRANSLATED without its path info, in the first and third cases
// when it ends with the path info, and the whole of it in the second.
//
// # HTTPS
//
// IIS sends HTTPS=off on plain HTTP, where Apache and nginx send no HTTPS at
// all. Fix leaves it as it is: programs written for IIS test it, and
// environ.GuessScheme and environ.Scheme give "http" for it, as only "on",
// "yes" and "1" mean https.
//
// Values are bytes throughout, as everywhere in gatewayd: Fix works on the
// environment after read_environ transcoding (protocol/cgi), as wsgiref's
// fix-up works on the transcoded strings.
package iis

import (
	"strings"

	"gatewayd/environ"
)

// Detect reports whether env comes from IIS: SERVER_SOFTWARE begins with
// "Microsoft-IIS/", in any case, the test wsgiref's read_environ makes. It
// does not say whether PATH_INFO is duplicated: see the package doc.
func Detect(env environ.Environ) bool {
	const prefix = "microsoft-iis/"
	s := env["SERVER_SOFTWARE"]
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// Fix applies the IIS fix-ups to env in place: PATH_INFO as wsgiref's
// IISCGIHandler fixes it, then PATH_TRANSLATED and SCRIPT_FILENAME as the
// package doc describes. A missing PATH_INFO is set to "" when SCRIPT_NAME
// is missing or empty too (wsgiref's strip of nothing creates the key);
// SCRIPT_NAME is never changed.
func Fix(env environ.Environ) {
	path := env["PATH_INFO"]
	script := env["SCRIPT_NAME"]
	if !strings.HasPrefix(path+"/", script+"/") {
		return
	}
	fixed := path[len(script):]
	env["PATH_INFO"] = fixed
	if script == "" {
		return // nothing was stripped
	}
	pt, ok := env["PATH_TRANSLATED"]
	if !ok {
		return
	}
	scriptFile, fixedFile := "", ""
	root, known := cutPathSuffix(pt, path) // the file and the path info
	if known {
		scriptFile = pt[:len(pt)-len(fixed)]
		fixedFile = pt[len(scriptFile):]
	} else if root, known = cutPathSuffix(pt, script); known { // the file alone
		scriptFile = pt
		sep := "/"
		if strings.Contains(pt, `\`) {
			sep = `\`
		}
		fixedFile = strings.ReplaceAll(fixed, "/", sep)
	} else if file, ok := cutPathSuffix(pt, fixed); ok && fixed != "" {
		scriptFile = file // the root is unknown
	}
	if _, set := env["SCRIPT_FILENAME"]; !set && scriptFile != "" {
		env["SCRIPT_FILENAME"] = scriptFile
	}
	if known && fixed != "" {
		env["PATH_TRANSLATED"] = root + fixedFile
	} else {
		delete(env, "PATH_TRANSLATED")
	}
}

// cutPathSuffix reports whether the file path file ends with the URL path
// p, a '/' in p matching '/' or '\' and other bytes matching ASCII
// case-insensitively, and returns what precedes that end.
func cutPathSuffix(file, p string) (prefix string, ok bool) {
	if len(p) > len(file) {
		return "", false
	}
	tail := file[len(file)-len(p):]
	for i := 0; i < len(p); i++ {
		a, b := tail[i], p[i]
		if b == '/' && (a == '/' || a == '\\') || lower(a) == lower(b) {
			continue
		}
		return "", false
	}
	return file[:len(file)-len(p)], true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
