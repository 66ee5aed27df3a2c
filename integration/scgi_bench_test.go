//go:build unix

package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// nginxTransport is a protocol nginx can reach gatewayd by. The benchmarks
// run each app once per transport, behind the same nginx configuration
// otherwise and under the same load, so that the transports compare
// directly: adding one is adding an entry here.
type nginxTransport struct {
	name string // the sub-benchmark's name
	flag string // gatewayd's listener flag
	// location returns the server-block lines that pass every request to
	// gatewayd at upstream (HOST:PORT or unix:PATH); dir is the test's.
	location func(tb testing.TB, dir, upstream string) string
}

var nginxTransports = []nginxTransport{
	{
		name: "fastcgi",
		flag: "--fastcgi",
		location: func(tb testing.TB, dir, upstream string) string {
			conf := configSnippet(tb, dir, "nginx/fastcgi.conf", "unix:/run/gatewayd/fastcgi.sock", upstream)
			return "include " + conf + ";"
		},
	},
	{
		name: "scgi",
		flag: "--scgi",
		location: func(tb testing.TB, dir, upstream string) string {
			conf := configSnippet(tb, dir, "nginx/scgi.conf", "unix:/run/gatewayd/scgi.sock", upstream)
			return "include " + conf + ";"
		},
	},
}

// BenchmarkNginxTransports drives nginx → gatewayd over FastCGI and over
// SCGI, in one run, with load's keep-alive clients, for a small shell CGI
// program under --root and for the in-process demo app, one sub-benchmark
// per transport:
//
//	go test -run '^$' -bench NginxTransports -benchtime 5s ./integration
func BenchmarkNginxTransports(b *testing.B) {
	requirePeer(b, "nginx", "/usr/sbin/nginx")
	root := b.TempDir()
	script := "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\nhello %s\\n' \"$PATH_INFO\"\n"
	if err := os.WriteFile(filepath.Join(root, "hello.sh"), []byte(script), 0o755); err != nil {
		b.Fatal(err)
	}
	apps := []struct {
		name string
		args []string // what gatewayd serves
		path string
	}{
		{"shell", []string{"--root", root}, "/hello.sh/bench"},
		{"demo", nil, "/bench?x=1"},
	}
	for _, app := range apps {
		b.Run(app.name, func(b *testing.B) {
			for _, tr := range nginxTransports {
				dir := b.TempDir()
				// gatewayd without its access log: one line per request
				// would be most of what it writes.
				sock := filepath.Join(dir, "gatewayd.sock")
				args := append([]string{"serve", tr.flag, "unix:" + sock, "--log-level", "warn"}, app.args...)
				waitPort(b, "unix", sock, startProcess(b, "gatewayd", exec.Command(gatewayd, args...)))
				port, _ := startNginx(b, "", tr.location(b, dir, "unix:"+sock))
				b.Run(tr.name, func(b *testing.B) {
					load(b, fmt.Sprintf("http://127.0.0.1:%d%s", port, app.path))
				})
			}
		})
	}
}
