package config_test

import (
	"fmt"
	"os"

	"gatewayd/cmd/gatewayd/internal/config"
)

func ExampleParse() {
	src := fmt.Sprintf(`
listen "fastcgi" { address = "unix:/run/gatewayd/fastcgi.sock" }
limits {
  timeout      = "30s"
  max_children = 8
}
env = { LANG = "C.UTF-8" }

mount "/cgi-bin" {
  root = %q
  limits { timeout = "10s" }
}
`, os.TempDir())
	c, err := config.Parse("gatewayd.hcl", []byte(src))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.Listen[0].Protocol, c.Listen[0].Address)
	for _, m := range c.Mounts {
		l := m.Limits
		fmt.Println(m.Prefix, m.Env["LANG"], l.Timeout, l.HeaderTimeout, l.MaxChildren, l.MaxQueue, l.MaxBody)
	}
	// Output:
	// fastcgi unix:/run/gatewayd/fastcgi.sock
	// /cgi-bin C.UTF-8 10s 10s 8 128 1073741824
}

func ExampleParse_problems() {
	src := `
listen "http" {
  address = "localhost"
}
limits {
  timeout  = "30"
  max_body = "1GB"
}
mount "/cgi-bin/" {
  root = "cgi-bin"
}
`
	_, err := config.Parse("gatewayd.hcl", []byte(src))
	fmt.Println(err)
	// Output:
	// gatewayd.hcl:3:13: address "localhost": want HOST:PORT, unix:PATH, fd:N, systemd or systemd:NAME
	// gatewayd.hcl:6:14: timeout "30": want a duration such as "30s", "1m30s" or "500ms"
	// gatewayd.hcl:7:14: max_body "1GB": want a whole number of bytes, or of KiB, MiB or GiB, such as "1GiB"
	// gatewayd.hcl:9:7: mount "/cgi-bin/": prefix must not end with '/'
	// gatewayd.hcl:10:10: root "cgi-bin": must be an absolute path
}

func ExampleDefault() {
	c := config.Default("/usr/lib/cgi-bin", nil)
	m := c.Mounts[0]
	h := m.Handler()
	r := m.Runner()
	fmt.Println(m.Prefix, h.Root, h.PassEnv, h.Timeout, h.MaxBody)
	fmt.Println(r.KillGrace, r.QueueTimeout, r.MaxQueue == 16*r.MaxChildren)
	// Output:
	// / /usr/lib/cgi-bin [PATH] 1m0s 1073741824
	// 2s 10s true
}

func ExampleLoad() {
	_, err := config.Load("/nonexistent/gatewayd.hcl")
	fmt.Println(err)
	// Output:
	// config: open /nonexistent/gatewayd.hcl: no such file or directory
}
