package environ

import "testing"

// BenchmarkList builds the environment of a program started for a
// request as nginx's fastcgi_params and a browser's headers make it.
func BenchmarkList(b *testing.B) {
	e := Environ{
		"QUERY_STRING": "a=1&b=2", "REQUEST_METHOD": "GET", "CONTENT_TYPE": "", "CONTENT_LENGTH": "",
		"SCRIPT_NAME": "/cgi-bin/hello.cgi", "REQUEST_URI": "/cgi-bin/hello.cgi?a=1&b=2",
		"DOCUMENT_URI": "/cgi-bin/hello.cgi", "DOCUMENT_ROOT": "/srv/www", "SERVER_PROTOCOL": "HTTP/1.1",
		"REQUEST_SCHEME": "http", "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_SOFTWARE": "nginx/1.22.1",
		"REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "53412", "SERVER_ADDR": "127.0.0.1", "SERVER_PORT": "80",
		"SERVER_NAME": "localhost", "REDIRECT_STATUS": "200", "SCRIPT_FILENAME": "/srv/www/cgi-bin/hello.cgi",
		"PATH_INFO": "", "FCGI_ROLE": "RESPONDER", "PATH": "/usr/local/bin:/usr/bin:/bin",
		"HTTP_HOST": "localhost", "HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
		"HTTP_ACCEPT":          "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
		"HTTP_ACCEPT_LANGUAGE": "en-GB,en;q=0.5", "HTTP_ACCEPT_ENCODING": "gzip, deflate, br",
		"HTTP_CONNECTION": "keep-alive", "HTTP_COOKIE": "session=0123456789abcdef",
		"HTTP_UPGRADE_INSECURE_REQUESTS": "1",
	}
	b.ReportAllocs()
	for b.Loop() {
		if len(e.List()) != len(e) {
			b.Fatal("entries lost")
		}
	}
}
