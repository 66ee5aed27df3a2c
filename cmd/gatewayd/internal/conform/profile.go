package conform

import (
	"cmp"
	"fmt"
	"maps"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gatewayd/environ"
	"gatewayd/handler"
)

// Profiles are the web servers whose requests check can play, in the order
// --help lists them.
var Profiles = []string{"nginx", "apache", "iis", "http"}

// Request is the request check sends the program.
type Request struct {
	// Method is the request method. Default: GET, or POST with a Body.
	Method string
	// Path is the URL path. Default: "/" for nginx and http, the program
	// under /cgi-bin/ for apache and iis.
	Path string
	// Query is the query string, without '?'.
	Query string
	// Header holds request header lines, "Name: value". Host defaults to
	// localhost.
	Header []string
	// Body is the request body; nil for none.
	Body []byte
}

// The addresses the played requests come from and go to.
const (
	serverName = "localhost"
	remoteAddr = "127.0.0.1"
	remotePort = "50312"
)

// header parses r.Header, with Host added when it is not given.
func (r Request) header() (http.Header, error) {
	h := http.Header{}
	for _, line := range r.Header {
		name, value, ok := strings.Cut(line, ":")
		if !ok || !handler.IsToken(name) {
			return nil, fmt.Errorf(`--header %q: want "Name: value"`, line)
		}
		h.Add(textproto.CanonicalMIMEHeaderKey(name), strings.TrimSpace(value))
	}
	if h.Get("Host") == "" {
		h.Set("Host", serverName)
	}
	if r.Body != nil && h.Get("Content-Type") == "" && r.method() == "POST" {
		h.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return h, nil
}

func (r Request) method() string {
	switch {
	case r.Method != "":
		return r.Method
	case r.Body != nil:
		return "POST"
	}
	return "GET"
}

// path returns the URL path, given the profile and the program.
func (r Request) path(profile, program string) string {
	switch {
	case r.Path != "":
		return r.Path
	case profile == "apache" || profile == "iis":
		return "/cgi-bin/" + filepath.Base(program)
	}
	return "/"
}

// uri is REQUEST_URI: the path and the query, as the client sent them.
func (r Request) uri(path string) string {
	if r.Query == "" {
		return path
	}
	return path + "?" + r.Query
}

// common sets what every web server sends: the request line, the body's
// fields and the headers as HTTP_*.
func (r Request) common(env environ.Environ, path string, h http.Header, passAuth bool) {
	env["REQUEST_METHOD"] = r.method()
	env["QUERY_STRING"] = r.Query
	env["REQUEST_URI"] = r.uri(path)
	env["SERVER_PROTOCOL"] = "HTTP/1.1"
	env["GATEWAY_INTERFACE"] = "CGI/1.1"
	env["REMOTE_ADDR"] = remoteAddr
	env["REMOTE_PORT"] = remotePort
	env["SERVER_ADDR"] = "127.0.0.1"
	env["SERVER_PORT"] = "80"
	env["SERVER_NAME"] = serverName
	env.AddHeaders(h, passAuth)
}

// nginxParams are the FastCGI parameters of nginx's fastcgi_params for r,
// as nginx 1.22 (Debian 12) sends them to gatewayd serve --fastcgi: empty
// CONTENT_TYPE and CONTENT_LENGTH are sent, SCRIPT_NAME is the whole path,
// no PATH_INFO or SCRIPT_FILENAME; every header is an HTTP_* parameter,
// Authorization too.
func nginxParams(r Request, path string, h http.Header) environ.Environ {
	env := environ.Environ{
		"CONTENT_TYPE":    h.Get("Content-Type"),
		"CONTENT_LENGTH":  "",
		"SCRIPT_NAME":     path,
		"DOCUMENT_URI":    path,
		"DOCUMENT_ROOT":   "/var/www/html",
		"REQUEST_SCHEME":  "http",
		"SERVER_SOFTWARE": "nginx/1.22.1",
		"REDIRECT_STATUS": "200",
	}
	if r.Body != nil {
		env["CONTENT_LENGTH"] = strconv.Itoa(len(r.Body))
	}
	r.common(env, path, h, true)
	return env
}

// apacheEnv is the environment Apache 2.4's mod_cgi gives the CGI program
// gatewayd cgi PROGRAM at path: CONTENT_TYPE and CONTENT_LENGTH only when
// there is a body, PATH_INFO only when not empty, Authorization dropped
// (no CGIPassAuth), PATH from Apache's own environment.
func apacheEnv(r Request, path, program string, h http.Header) environ.Environ {
	scriptName := "/cgi-bin/" + filepath.Base(program)
	env := environ.Environ{
		"SERVER_SIGNATURE":      "<address>Apache/2.4.62 (Debian) Server at localhost Port 80</address>\n",
		"SERVER_SOFTWARE":       "Apache/2.4.62 (Debian)",
		"DOCUMENT_ROOT":         "/var/www/html",
		"REQUEST_SCHEME":        "http",
		"CONTEXT_PREFIX":        "/cgi-bin/",
		"CONTEXT_DOCUMENT_ROOT": "/usr/lib/cgi-bin/",
		"SERVER_ADMIN":          "webmaster@localhost",
		"SCRIPT_FILENAME":       program,
		"SCRIPT_NAME":           scriptName,
		"PATH":                  cmp.Or(os.Getenv("PATH"), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
	}
	if rest, ok := strings.CutPrefix(path, scriptName); ok && (rest == "" || rest[0] == '/') {
		if rest != "" {
			env["PATH_INFO"] = rest
			env["PATH_TRANSLATED"] = "/var/www/html" + rest
		}
	} else {
		env["SCRIPT_NAME"] = path
	}
	if r.Body != nil {
		env["CONTENT_LENGTH"] = strconv.Itoa(len(r.Body))
		if ct := h.Get("Content-Type"); ct != "" {
			env["CONTENT_TYPE"] = ct
		}
	}
	r.common(env, path, h, false)
	return env
}

// iisEnv is the environment IIS 10's CgiModule gives gatewayd cgi --iis
// PROGRAM, without allowPathInfo: PATH_INFO repeats SCRIPT_NAME, HTTPS is
// "off", CONTENT_LENGTH is "0" without a body; gatewayd cgi --iis undoes
// the PATH_INFO.
func iisEnv(r Request, path, program string, h http.Header) environ.Environ {
	scriptName := "/cgi-bin/" + filepath.Base(program)
	if !strings.HasPrefix(path, scriptName) {
		scriptName = path
	}
	env := environ.Environ{
		"SERVER_SOFTWARE":    "Microsoft-IIS/10.0",
		"INSTANCE_ID":        "1",
		"INSTANCE_META_PATH": "/LM/W3SVC/1",
		"APPL_MD_PATH":       "/LM/W3SVC/1/ROOT",
		"APPL_PHYSICAL_PATH": `C:\inetpub\wwwroot\`,
		"HTTPS":              "off",
		"SERVER_PORT_SECURE": "0",
		"LOCAL_ADDR":         "127.0.0.1",
		"AUTH_TYPE":          "",
		"AUTH_USER":          "",
		"LOGON_USER":         "",
		"REMOTE_USER":        "",
		"URL":                path,
		"SCRIPT_NAME":        scriptName,
		"PATH_INFO":          path,
		"PATH_TRANSLATED":    `C:\inetpub\wwwroot` + strings.ReplaceAll(path, "/", `\`),
		"CONTENT_LENGTH":     "0",
		"SCRIPT_FILENAME":    program,
	}
	if r.Body != nil {
		env["CONTENT_LENGTH"] = strconv.Itoa(len(r.Body))
		env["CONTENT_TYPE"] = h.Get("Content-Type")
	}
	var all []string
	for _, name := range slices.Sorted(maps.Keys(h)) {
		if v, ok := environ.HeaderVar(name); ok {
			all = append(all, v+":"+strings.Join(h[name], ", "))
		}
	}
	env["ALL_HTTP"] = strings.Join(all, "\n") + "\n"
	r.common(env, path, h, false)
	return env
}
