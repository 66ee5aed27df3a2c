// Package cgi is gatewayd's run-once CGI front-end, the counterpart of
// wsgiref's CGIHandler and IISCGIHandler: a web server (Apache mod_cgi or
// mod_cgid, IIS) starts `gatewayd cgi` as its CGI program for one request;
// Serve takes the request from the process environment and stdin, runs it
// through the handler pipeline and writes the response in gateway form
// ("Status: 200 OK") on stdout.
//
// # The environment: read_environ
//
// Environ reads the process environment through ReadEnviron,
// wsgiref.handlers.read_environ as a pure function of the platform and the
// environment, so that every rule is tested on any system. wsgiref works on
// Python strings; gatewayd on bytes. The mapping between them: a WSGI
// string holds bytes as the latin-1 characters of the same numbers (PEP
// 3333), so a transcoded value, all of whose characters are U+0000–U+00FF,
// is the byte string of those numbers; a value that is not transcoded keeps
// Python's decoded string, and gatewayd holds its UTF-8 bytes.
//
// On POSIX (every system but Windows) the environment is bytes and Go gives
// them as they are. wsgiref decodes them with the file system encoding and
// surrogateescape and, for the transcoded variables, encodes them back the
// same way and decodes as latin-1: the original bytes. Variables it does
// not transcode stay decoded, whose UTF-8 form is again the original bytes.
// So every value passes through unchanged: PATH_INFO b"/caf\xc3\xa9/\xff"
// is "/caf\xc3\xa9/\xff" (wsgiref's '/cafÃ©/ÿ'), HTTP_X b"\xe9" is "\xe9"
// ('é'), and SERVER_NAME b"caf\xc3\xa9", which wsgiref leaves as 'café', is
// "caf\xc3\xa9".
//
// On Windows the environment is UTF-16 text. Go gives it as WTF-8: UTF-8,
// with a lone surrogate in its 3-byte form (ED A0–BF 80–BF). Names are
// upper-cased, as Python's os.environ upper-cases them on Windows, which
// makes "path_info" PATH_INFO there. The transcoded variables get the rule
// that SERVER_SOFTWARE, lower-cased, selects:
//
//	SERVER_SOFTWARE            wsgiref                          the program sees
//	microsoft-iis/...          v.encode('utf-8')                the UTF-8 bytes: Go's string as it is
//	apache/...                 v (Apache wrote bytes as         each character as one byte ("caf\xe9"
//	                           latin-1 characters)              for café); a value with a character
//	                                                            above U+00FF keeps its UTF-8 bytes
//	simplehttp/... python/3... v.encode('utf-8')                the UTF-8 bytes
//	anything else              v.encode(fs encoding, 'replace') the UTF-8 bytes, each lone surrogate
//	                                                            replaced by '?'
//
// Where wsgiref raises UnicodeEncodeError, on a lone surrogate with the
// UTF-8 rules, gatewayd keeps the WTF-8 bytes, losing nothing. The file
// system encoding is UTF-8, Python's since 3.6; the legacy "mbcs" mode
// (PYTHONLEGACYWINDOWSFSENCODING) is not modelled. Variables that are not
// transcoded keep their UTF-8 (WTF-8) bytes. Note that SERVER_SOFTWARE
// "Apache" alone (ServerTokens Prod) is not "apache/", so wsgiref, and
// gatewayd, treat it as an unknown server.
//
// The transcoded variables are exactly wsgiref's: SCRIPT_NAME, PATH_INFO,
// QUERY_STRING, REQUEST_METHOD, AUTH_TYPE, CONTENT_TYPE, CONTENT_LENGTH,
// HTTPS, REMOTE_USER and REMOTE_IDENT; every name beginning with HTTP_ or
// SSL_; and REDIRECT_ followed by any transcoded name, recursively
// (REDIRECT_REDIRECT_PATH_INFO). The test is case-sensitive: REDIRECT_URL,
// REDIRECT_STATUS, REQUEST_URI, PATH_TRANSLATED, SERVER_NAME, DOCUMENT_ROOT,
// SCRIPT_FILENAME and the rest are not transcoded.
//
// When gatewayd on Windows starts a program, Go turns each value back into
// UTF-16 from UTF-8, so a byte string that is not UTF-8 (what Apache's rule
// gives for non-ASCII) reaches the program as U+FFFD. Giving a program on
// Windows the inverse of read_environ is the subprocess runner's to do.
//
// # wsgiref's CGIHandler defaults
//
// CGIHandler's base environment is empty: nothing of the server process's
// own environment lies beneath the request. In gatewayd every variable of
// the environment `gatewayd cgi` was started with is a request variable:
// the web server built it for this one request, from the request and from
// what its administrator chose to pass (Apache: the CGI variables, PATH,
// LD_LIBRARY_PATH, TZ and SetEnv or PassEnv values; IIS: its server
// variables and the system variables, SystemRoot and PATHEXT among them,
// that a Windows program needs to start). So all of it is the Request's
// environment, and the handler's base is empty: Config.Handler.PassEnv
// defaults to none (it copies from gatewayd's environment, which here is
// the request's, so a default PATH would add nothing) and Env to nothing.
// The pipeline still removes HTTP_PROXY, HTTP_CONTENT_TYPE and
// HTTP_CONTENT_LENGTH and sets GATEWAY_INTERFACE; SERVER_SOFTWARE stays the
// web server's. The run is once: one request, one program, and gatewayd
// exits.
//
// # The body
//
// The body is read from stdin as CONTENT_LENGTH says (RFC 3875 §4.2): none
// without it, else exactly that many bytes, all of them before the program
// starts, up to 64 KiB in memory and beyond that in an unlinked temporary
// file (Handler.TempDir). Apache, mod_cgi and mod_cgid alike, writes the
// whole body before it reads any of the response and fails the request
// when its program stops reading: a script that ignores a 1 MB POST gets
// "AH02651: Error writing request body to script" in the error log and the
// client a reset connection. Reading the body first keeps that from
// happening whatever the program does with its stdin. A body over
// Handler.MaxBody is not read (the pipeline answers 413), nor is one whose
// CONTENT_LENGTH is malformed (400). A request without CONTENT_LENGTH has no
// body, as RFC 3875 says; Apache passes a chunked upload that way.
//
// # The response
//
// The pipeline writes the response in gateway form through a bufio.Writer
// on stdout that Serve flushes when the pipeline returns; every error page
// (500 with wsgiref's body, 504 on timeout, 403, 404) is the pipeline's.
// Serve's error is nil whenever a complete response was written, whatever
// its status: the web server judges by the response, so `gatewayd cgi`
// then exits 0. Local redirects are followed inside gatewayd, rerunning the
// same program, as in every front-end.
//
// # PATH_TRANSLATED: Apache's Action, IIS script maps
//
// With Translated and no program, gatewayd runs the file PATH_TRANSLATED
// names. Apache's Action redirects a request for /doc/app.gw/x to the
// action's URL internally, with REDIRECT_STATUS set, PATH_INFO /doc/app.gw/x
// and PATH_TRANSLATED /srv/www/doc/app.gw/x: the file followed by the path
// info. An IIS script map whose scriptProcessor has no %s gives
// PATH_TRANSLATED as the file and path info too (see package iis). So the
// longest part of PATH_TRANSLATED, cut before a '/', that is an existing
// file is the program, and the rest the path info; the file must be a
// regular file that may be run (POSIX: an execute bit; Windows: an
// extension in PATHEXT), else 403, and 404 when there is none.
//
// This happens only when REDIRECT_STATUS is set, which Apache does on the
// internal redirect of an Action and a client cannot, or when Config.IIS
// is set; otherwise 403, so that gatewayd behind a ScriptAlias cannot be
// made to run any file a URL names (the reason for php-cgi's
// force-cgi-redirect). The parts must also agree: the path info must end
// PATH_INFO (with IIS, be what follows SCRIPT_NAME in it, which needs
// allowPathInfo="false"), and the file's name must be the last segment of
// the script's URL path; else 403.
//
// Behind Apache the program then gets the environment Apache gives a CGI
// program it runs itself: SCRIPT_NAME the script's URL path (/doc/app.gw),
// PATH_INFO the path info (/x, absent when empty), SCRIPT_FILENAME the file
// and PATH_TRANSLATED DOCUMENT_ROOT followed by the path info (Apache's
// mapping when no Alias applies; absent without path info). REDIRECT_* and
// the rest stay as Apache sent them. With IIS, SCRIPT_FILENAME is the file
// and iis.Fix corrects PATH_INFO and PATH_TRANSLATED.
package cgi
