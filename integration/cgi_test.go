//go:build unix

package integration

import (
	"bytes"
	"encoding/xml"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// iisEnviron is what IIS 10 gives a CGI program (the server variables
// Microsoft documents for IIS) for GET /cgi-bin/app.cgi<pathInfo> with IIS's
// default allowPathInfo="false": PATH_INFO repeats SCRIPT_NAME,
// PATH_TRANSLATED maps the whole of it, HTTPS is "off". site is the site's
// root directory (a POSIX path: this is IIS simulated on POSIX).
func iisEnviron(site, pathInfo string, kv ...string) []string {
	url := "/cgi-bin/app.cgi" + pathInfo
	return append([]string{
		"SERVER_SOFTWARE=Microsoft-IIS/10.0", "GATEWAY_INTERFACE=CGI/1.1", "SERVER_PROTOCOL=HTTP/1.1",
		"SERVER_NAME=localhost", "SERVER_PORT=80", "SERVER_PORT_SECURE=0", "HTTPS=off", "HTTPS_KEYSIZE=",
		"INSTANCE_ID=1", "INSTANCE_META_PATH=/LM/W3SVC/1", "APPL_MD_PATH=/LM/W3SVC/1/ROOT",
		"APPL_PHYSICAL_PATH=" + site + "/", "APP_POOL_ID=DefaultAppPool", "LOCAL_ADDR=127.0.0.1",
		"REMOTE_ADDR=127.0.0.1", "REMOTE_HOST=127.0.0.1", "REMOTE_PORT=50123",
		"AUTH_TYPE=", "AUTH_USER=", "LOGON_USER=", "REMOTE_USER=",
		"REQUEST_METHOD=GET", "CONTENT_LENGTH=0", "QUERY_STRING=q=1", "URL=" + url,
		"SCRIPT_NAME=/cgi-bin/app.cgi", "PATH_INFO=" + url, "PATH_TRANSLATED=" + site + url,
		"HTTP_HOST=localhost", "HTTP_PROXY=http://evil.example/", "ALL_HTTP=HTTP_HOST:localhost\n",
		"ALL_RAW=Host: localhost\r\n", "PATH=/usr/bin:/bin", "SYSTEMROOT=C:\\Windows",
	}, kv...)
}

// TestCGISimulatedIIS runs the built `gatewayd cgi --iis` with IIS-shaped
// environments and checks that the program sees what wsgiref's
// IISCGIHandler gives: PATH_INFO without SCRIPT_NAME, PATH_TRANSLATED
// corrected, HTTPS=off kept, and the bytes of UTF-8 and of a code page
// alike passed as they are (read_environ's POSIX rule).
func TestCGISimulatedIIS(t *testing.T) {
	site := t.TempDir()
	if err := os.MkdirAll(filepath.Join(site, "cgi-bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(site, "cgi-bin", "app.cgi")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\necho \"args=$*\"\nenv\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  []string
		want map[string]string // notSet: absent
		page string            // the whole response, when it is an error page
	}{
		{
			name: "script map, UTF-8 path", args: []string{"--iis"}, env: iisEnviron(site, "/caf\xc3\xa9/x"),
			want: map[string]string{
				"SCRIPT_NAME": "/cgi-bin/app.cgi", "PATH_INFO": "/caf\xc3\xa9/x", "PATH_TRANSLATED": site + "/caf\xc3\xa9/x",
				"SCRIPT_FILENAME": script, "HTTPS": "off", "SERVER_SOFTWARE": "Microsoft-IIS/10.0", "QUERY_STRING": "q=1",
				"INSTANCE_ID": "1", "APPL_MD_PATH": "/LM/W3SVC/1/ROOT", "URL": "/cgi-bin/app.cgi/caf\xc3\xa9/x",
				"SYSTEMROOT": `C:\Windows`, "HTTP_PROXY": notSet, "CONTENT_LENGTH": "0", "args": "",
			},
		},
		{
			name: "script map, code-page byte", args: []string{"--iis"}, env: iisEnviron(site, "/caf\xe9"),
			want: map[string]string{"PATH_INFO": "/caf\xe9", "PATH_TRANSLATED": site + "/caf\xe9", "SCRIPT_FILENAME": script},
		},
		{
			name: "script map, no path info", args: []string{"--iis"}, env: iisEnviron(site, ""),
			want: map[string]string{"PATH_INFO": "", "PATH_TRANSLATED": notSet, "SCRIPT_FILENAME": script},
		},
		{
			name: "script map, PATH_TRANSLATED names the script alone", args: []string{"--iis"},
			env:  iisEnviron(site, "/x", "PATH_TRANSLATED="+script),
			want: map[string]string{"PATH_INFO": "/x", "PATH_TRANSLATED": site + "/x", "SCRIPT_FILENAME": script},
		},
		{
			name: "PROGRAM (a scriptProcessor with %s)", args: []string{"--iis", script}, env: iisEnviron(site, "/a/b"),
			want: map[string]string{"PATH_INFO": "/a/b", "PATH_TRANSLATED": site + "/a/b", "SCRIPT_FILENAME": script},
		},
		{
			name: "allowPathInfo=true, no --iis", args: []string{script},
			env:  iisEnviron(site, "", "PATH_INFO=/cgi-bin/app.cgi/x", "PATH_TRANSLATED="+site+"/cgi-bin/app.cgi/x"),
			want: map[string]string{"PATH_INFO": "/cgi-bin/app.cgi/x", "PATH_TRANSLATED": site + "/cgi-bin/app.cgi/x"},
		},
		{
			name: "allowPathInfo=true with --iis and no PROGRAM", args: []string{"--iis"},
			env:  iisEnviron(site, "", "PATH_INFO=/x", "PATH_TRANSLATED="+site+"/x"),
			page: "Status: 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\n403 Forbidden\n",
		},
		{
			name: "script map without --iis", args: nil, env: iisEnviron(site, "/x"),
			page: "Status: 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\n403 Forbidden\n",
		},
		{
			name: "query words appended to the command line", args: []string{"--iis", "/bin/sh"},
			env:  iisEnviron(site, "/x", "QUERY_STRING=%2Fbin%2Fsh"),
			want: map[string]string{"PATH_INFO": "/x", "SCRIPT_FILENAME": script, "args": ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(gatewayd, append([]string{"cgi"}, tt.args...)...)
			cmd.Env = tt.env
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("gatewayd cgi %q: %v\n%s", tt.args, err, stderr.String())
			}
			out := stdout.String()
			if tt.page != "" {
				if out != tt.page {
					t.Errorf("gatewayd cgi %q = %q, want %q\n%s", tt.args, out, tt.page, stderr.String())
				}
				return
			}
			if !strings.HasPrefix(out, "Status: 200 OK\r\n") {
				t.Fatalf("gatewayd cgi %q = %q\n%s", tt.args, out, stderr.String())
			}
			checkDumpedEnv(t, tt.name, out, tt.want)
		})
	}
}

// TestCGIDemoUnderIIS: `gatewayd demo` as the program, an ARG passed
// through, shows the fixed-up environment with Python's quoting.
func TestCGIDemoUnderIIS(t *testing.T) {
	site := t.TempDir()
	cmd := exec.Command(gatewayd, "cgi", "--iis", gatewayd, "demo")
	cmd.Env = iisEnviron(site, "/caf\xc3\xa9")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := errors.AsType[*exec.ExitError](err); ok {
			t.Fatalf("gatewayd cgi --iis gatewayd demo: exit %d\n%s", ee.ExitCode(), stderr.String())
		}
		t.Fatal(err)
	}
	for _, want := range []string{"Status: 200 OK\r\n", "\r\n\r\nHello world!\n", "\nPATH_INFO = '/café'\n", "\nHTTPS = 'off'\n",
		"\nPATH_TRANSLATED = '" + site + "/café'\n", "\nSCRIPT_NAME = '/cgi-bin/app.cgi'\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("gatewayd demo under --iis: no %q in\n%s", want, out)
		}
	}
}

// TestIISConfig: configs/iis is well-formed, its handler mappings run
// `gatewayd cgi` through CgiModule, every scriptProcessor is allowed by an
// isapiCgiRestriction entry of exactly the same string, and the mappings
// that use the IIS fix-up keep allowPathInfo="false", which it relies on.
func TestIISConfig(t *testing.T) {
	var web struct {
		Handlers []struct {
			Name            string `xml:"name,attr"`
			Modules         string `xml:"modules,attr"`
			ScriptProcessor string `xml:"scriptProcessor,attr"`
			AllowPathInfo   string `xml:"allowPathInfo,attr"`
		} `xml:"location>system.webServer>handlers>add"`
	}
	var host struct {
		Allowed []struct {
			Path    string `xml:"path,attr"`
			Allowed string `xml:"allowed,attr"`
		} `xml:"system.webServer>security>isapiCgiRestriction>add"`
	}
	for file, v := range map[string]any{"web.config": &web, "applicationHost.xml": &host} {
		b, err := os.ReadFile(filepath.Join(configsDir(t), "iis", file))
		if err != nil {
			t.Fatal(err)
		}
		if err := xml.Unmarshal(b, v); err != nil {
			t.Fatalf("configs/iis/%s: %v", file, err)
		}
	}
	if len(web.Handlers) == 0 {
		t.Fatal("configs/iis/web.config maps no handler")
	}
	for _, h := range web.Handlers {
		if h.Modules != "CgiModule" || !strings.Contains(h.ScriptProcessor, `gatewayd.exe cgi`) {
			t.Errorf("handler %s: modules %q, scriptProcessor %q", h.Name, h.Modules, h.ScriptProcessor)
		}
		if strings.Contains(h.ScriptProcessor, " --iis") && h.AllowPathInfo != "false" {
			t.Errorf("handler %s uses --iis with allowPathInfo=%q", h.Name, h.AllowPathInfo)
		}
		allowed := false
		for _, a := range host.Allowed {
			allowed = allowed || a.Path == h.ScriptProcessor && a.Allowed == "true"
		}
		if !allowed {
			t.Errorf("handler %s: no isapiCgiRestriction entry allows %q", h.Name, h.ScriptProcessor)
		}
	}
}
