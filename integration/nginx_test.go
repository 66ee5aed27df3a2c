//go:build unix

package integration

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
)

// nginxConf wraps a test's http-level lines and server body into a complete
// nginx.conf that keeps every file nginx writes in the test's directory.
const nginxConf = `daemon off;
master_process on;
worker_processes 1;
pid {{.Dir}}/nginx.pid;
error_log {{.Dir}}/error.log info;
{{if .Root}}user root root;{{end}}
events { worker_connections 1024; }
http {
	access_log {{.Dir}}/access.log;
	client_body_temp_path {{.Dir}}/client_body;
	fastcgi_temp_path {{.Dir}}/fastcgi_temp;
	scgi_temp_path {{.Dir}}/scgi_temp;
	proxy_temp_path {{.Dir}}/proxy_temp;
	uwsgi_temp_path {{.Dir}}/uwsgi_temp;
	default_type application/octet-stream;
	client_max_body_size 0;
{{.HTTP}}
	server {
		listen 127.0.0.1:{{.Port}};
		server_name localhost;
{{.Server}}
	}
}
`

// startNginx runs nginx in the foreground with one server on a free
// loopback port. httpBlock holds http-level lines (upstreams); server is
// the server block's body (locations, usually an include of a snippet in
// configs/nginx/). It returns the port and the path of nginx's error log.
func startNginx(tb testing.TB, httpBlock, server string) (port int, errorLog string) {
	tb.Helper()
	nginx := requirePeer(tb, "nginx", "/usr/sbin/nginx")
	dir := tb.TempDir()
	port = freePort(tb)
	conf := writeTemplate(tb, dir, "nginx.conf", nginxConf, map[string]any{
		"Dir": dir, "Root": runningAsRoot(), "Port": port, "HTTP": httpBlock, "Server": server,
	})
	errorLog = filepath.Join(dir, "error.log")
	p := startProcess(tb, "nginx", exec.Command(nginx, "-p", dir, "-c", conf, "-e", errorLog))
	waitPort(tb, "tcp", fmt.Sprintf("127.0.0.1:%d", port), p)
	return port, errorLog
}
