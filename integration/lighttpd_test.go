//go:build unix

package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// lighttpdConf wraps a test's lines into a complete lighttpd.conf that
// keeps every file lighttpd writes in the test's directory. Debian's
// lighttpd has mod_scgi, mod_fastcgi and the other gateway modules built
// into the binary: server.modules names them without a .so to load.
const lighttpdConf = `server.bind = "127.0.0.1"
server.port = {{.Port}}
server.document-root = "{{.DocRoot}}"
server.pid-file = "{{.Dir}}/lighttpd.pid"
server.errorlog = "{{.Dir}}/error.log"
server.upload-dirs = ( "{{.Dir}}/upload" )
server.max-request-size = 0
{{.Body}}
`

// startLighttpd runs lighttpd in the foreground (-D) on a free loopback
// port, serving docRoot (an empty directory of its own when ""). body holds
// the configuration after the basics: variables and an include of a snippet
// in configs/lighttpd/. It returns the port and the path of lighttpd's
// error log.
func startLighttpd(tb testing.TB, docRoot, body string) (port int, errorLog string) {
	tb.Helper()
	lighttpd := requirePeer(tb, "lighttpd", "/usr/sbin/lighttpd")
	dir := tb.TempDir()
	for _, d := range []string{"htdocs", "upload"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	if docRoot == "" {
		docRoot = filepath.Join(dir, "htdocs")
	}
	port = freePort(tb)
	conf := writeTemplate(tb, dir, "lighttpd.conf", lighttpdConf, map[string]any{
		"Dir": dir, "DocRoot": docRoot, "Port": port, "Body": body,
	})
	if out, err := exec.Command(lighttpd, "-tt", "-f", conf).CombinedOutput(); err != nil {
		tb.Fatalf("lighttpd -tt -f %s: %v\n%s", conf, err, out)
	}
	errorLog = filepath.Join(dir, "error.log")
	p := startProcess(tb, "lighttpd", exec.Command(lighttpd, "-D", "-f", conf))
	waitPort(tb, "tcp", fmt.Sprintf("127.0.0.1:%d", port), p)
	return port, errorLog
}
