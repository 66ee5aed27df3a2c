package config

import (
	"errors"
	"testing"
)

// FuzzParse checks that Parse never panics, that whatever it rejects it
// rejects with Problems that have positions, and that whatever it accepts
// has complete limits, valid prefixes and mounts of one kind each.
func FuzzParse(f *testing.F) {
	fx := newFixture(f)
	for _, tt := range brokenFiles {
		f.Add(fx.expand(tt.src))
	}
	f.Add(fx.expand(`
listen "http" { address = "127.0.0.1:8000" }
limits {
  timeout  = "30s"
  max_body = "1MiB"
}
env = { A = "1" }
mount "/" { root = "@DIR@" }
mount "/git" {
  program = ["@EXE@"]
  limits { max_children = 1 }
}
mount "/php" {
  root = "@DIR@"
  worker {
    command      = ["@EXE@", "-c", "/etc/php.ini"]
    processes    = 2
    max_requests = 500
    max_rss      = "256MiB"
  }
}
mount "/fpm" { fastcgi = "127.0.0.1:9000" }
`))
	f.Fuzz(func(t *testing.T, src string) {
		c, err := Parse("f.hcl", []byte(src))
		if err != nil {
			problems, ok := errors.AsType[Problems](err)
			if !ok || len(problems) == 0 {
				t.Fatalf("Parse(%q) = %v, want Problems", src, err)
			}
			if c != nil {
				t.Fatalf("Parse(%q) = %+v with problems, want nil", src, c)
			}
			return
		}
		if !complete(c.Limits) {
			t.Fatalf("Parse(%q).Limits = %+v, want every field positive", src, c.Limits)
		}
		seen := map[string]bool{}
		for _, m := range c.Mounts {
			if msg := checkPrefix(m.Prefix); msg != "" || seen[m.Prefix] {
				t.Fatalf("Parse(%q) accepted mount %q (%s, seen %v)", src, m.Prefix, msg, seen[m.Prefix])
			}
			seen[m.Prefix] = true
			if !complete(m.Limits) {
				t.Fatalf("Parse(%q) mount %q Limits = %+v, want every field positive", src, m.Prefix, m.Limits)
			}
			kinds := 0
			for _, set := range []bool{m.Root != "" && m.Worker == nil, m.Program != nil, m.Worker != nil, m.FastCGI != ""} {
				if set {
					kinds++
				}
			}
			if kinds != 1 {
				t.Fatalf("Parse(%q) mount %q = %+v, want one of root, program, worker and fastcgi, or worker and root", src, m.Prefix, m)
			}
			if w := m.Worker; w != nil && (len(w.Command) == 0 || w.Processes <= 0 || w.MaxRequests < 0 || w.MaxRSS < 0) {
				t.Fatalf("Parse(%q) mount %q Worker = %+v", src, m.Prefix, w)
			}
			if m.FastCGI != "" && checkDialAddress(m.FastCGI) != "" {
				t.Fatalf("Parse(%q) mount %q FastCGI = %q", src, m.Prefix, m.FastCGI)
			}
		}
	})
}

func complete(l Limits) bool {
	return l.Timeout > 0 && l.HeaderTimeout > 0 && l.IdleTimeout > 0 && l.KillGrace > 0 &&
		l.QueueTimeout > 0 && l.MaxChildren > 0 && l.MaxQueue > 0 && l.MaxBody > 0
}
