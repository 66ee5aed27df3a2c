# gatewayd.hcl: one gatewayd serving CGI scripts, git over HTTP and the
# built-in demo app, for a web server in front of it over FastCGI and for
# local HTTP clients.
#
#   gatewayd config check /etc/gatewayd/gatewayd.hcl   # check it, like nginx -t
#   gatewayd serve --config /etc/gatewayd/gatewayd.hcl
#
# Every key left out has the default of its command-line flag. Paths are
# absolute. Durations are Go durations ("30s", "1m30s"); sizes are bytes or
# take a KiB, MiB or GiB suffix. HCL wants one attribute per line.

# The web server's side: nginx's fastcgi_pass unix:/run/gatewayd/fastcgi.sock;
# (see configs/nginx/). /run/gatewayd is the service's RuntimeDirectory.
listen "fastcgi" {
  address = "unix:/run/gatewayd/fastcgi.sock"
}

# Plain HTTP on the loopback interface, for curl and for checks.
listen "http" {
  address = "127.0.0.1:8000"
}

# /metrics (Prometheus), /status (JSON) and /healthz, on a listener of their
# own that answers while every program slot is busy. No authentication: keep
# it on the loopback or a unix socket.
admin {
  address = "127.0.0.1:9180"
}

log {
  level  = "info" # trace, debug, info, warn or error
  format = "text" # or json, for journald or a log collector
  access = true   # one line per request
}

# Limits of every mount; a mount's own limits block overrides them key by key.
limits {
  timeout       = "60s"  # a whole request; header_timeout and idle_timeout default to it
  kill_grace    = "2s"   # between SIGTERM and SIGKILL for a program being stopped
  max_children  = 16     # programs of one mount running at once (default 4 × CPUs)
  queue_timeout = "10s"  # the longest a request waits for a free slot, then 503
  max_body      = "1GiB" # larger request bodies get 413
}

# Given to every program; PATH is always copied from gatewayd's own environment.
env = {
  LANG = "C.UTF-8"
}
pass_env = ["TZ"]

# How long SIGTERM (systemctl stop) waits for the requests in flight before
# it stops their programs and gatewayd exits 1 (default 30s); longer here,
# for clones and pushes under /git.
shutdown_timeout = "2m"

# Scripts under /usr/lib/cgi-bin: /cgi-bin/hello.py/x runs hello.py with
# PATH_INFO /x. Only executable files inside the root run.
mount "/cgi-bin" {
  root = "/usr/lib/cgi-bin"
  limits {
    timeout = "30s"
  }
}

# git clone http://127.0.0.1:8000/git/project.git serves /srv/git/project.git.
mount "/git" {
  program = ["/usr/lib/git-core/git-http-backend"]
  # git reads a push to its end: a chunked one (git's default for a large
  # push) goes to it as it arrives instead of being spooled to disk first.
  stream_unknown_length = true
  env = {
    GIT_PROJECT_ROOT    = "/srv/git"
    GIT_HTTP_EXPORT_ALL = "1" # every repository, not only those with git-daemon-export-ok
  }
  limits {
    timeout  = "10m"   # a clone of a large repository takes a while
    max_body = "2GiB"  # pushes
  }
}

# A program with arguments: gatewayd's own demo CGI program.
mount "/demo" {
  program = ["/usr/local/bin/gatewayd", "demo"]
}

# Persistent FastCGI workers gatewayd starts and supervises (php-cgi), and
# an external FastCGI server it forwards to (php-fpm), are mounts too:
# configs/php-workers.hcl shows both.
