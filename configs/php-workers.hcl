# php-workers.hcl: gatewayd running PHP for nginx on persistent php-cgi
# workers it starts, supervises and recycles itself, and forwarding one
# application to a php-fpm pool it does not run.
#
#   gatewayd config check /etc/gatewayd/php-workers.hcl   # check it, like nginx -t
#   gatewayd serve --config /etc/gatewayd/php-workers.hcl
#
# and in nginx's server block (root is the scripts' directory, as below):
#
#   root /var/www/html;
#   location ~ \.php$ {
#   	fastcgi_pass unix:/run/gatewayd/php.sock;
#   	include /etc/nginx/fastcgi_params;
#   	fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
#   }
#
# Every key left out has the default of its command-line flag. Paths are
# absolute. Durations are Go durations ("30s", "1m30s"); sizes are bytes or
# take a KiB, MiB or GiB suffix. HCL wants one attribute per line.

# nginx's side. /run/gatewayd is the service's RuntimeDirectory.
listen "fastcgi" {
  address = "unix:/run/gatewayd/php.sock"
}

log {
  level  = "info"
  access = true # one line per request, with the pid of the worker that served it
}

# Limits of every mount; a mount's own limits block overrides them key by key.
limits {
  timeout       = "30s"   # a whole request; a worker still on it then gets FCGI_ABORT_REQUEST
  kill_grace    = "2s"    # php-cgi ignores the abort: it is killed after this, and replaced
  queue_timeout = "10s"   # the longest a request waits for an idle worker, then 503
  max_queue     = 64      # requests waiting for an idle worker; more get 503 at once
  max_body      = "64MiB" # larger uploads get 413 (PHP's post_max_size still applies)
}

# The workers' own environment, and the base of every request's.
env = {
  LANG = "C.UTF-8"
}

# Every .php file under /var/www/html, run by four php-cgi processes that
# each serve one request at a time over one kept connection. The files are
# scripts the workers read: they need not be executable, but SCRIPT_FILENAME
# must lie inside root (403 otherwise; 404 for a file that does not exist).
mount "/" {
  root = "/var/www/html"
  worker {
    command      = ["/usr/bin/php-cgi"] # gets its listening socket on fd 0
    processes    = 4                    # workers; a request waits for an idle one
    max_requests = 1000                 # recycle a worker after this many requests (0: never)
    max_rss      = "256MiB"             # or once its resident memory is over this after a request
  }
}

# An application left on php-fpm: gatewayd forwards its requests to the
# pool's socket and checks the answers; php-fpm starts its own workers.
# SCRIPT_FILENAME is nginx's, /var/www/html/legacy/....
mount "/legacy" {
  fastcgi = "unix:/run/php/php8.2-fpm.sock" # or HOST:PORT
  limits {
    max_children = 8 # connections to php-fpm at once: its pm.max_children
  }
}
