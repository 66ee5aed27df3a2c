// Package worker runs requests on persistent FastCGI applications: Pool
// starts, supervises and recycles worker processes (php-cgi, a Go
// net/http/fcgi program, a Perl FCGI script); Remote forwards to a FastCGI
// server that gatewayd does not start (php-fpm). Both are handler.Apps:
// the pipeline builds the request's environment, which goes to the
// application as FastCGI parameters, and parses and checks the CGI
// response that comes back on FCGI_STDOUT exactly as it does a CGI
// program's. FCGI_STDERR goes where a CGI program's stderr goes: to the
// front-end's stream, or to the log as lines tagged with the request.
//
// The protocol is protocol/fastcgi's ClientConn, not gofast's Client,
// which gatewayd uses only as a peer in tests: gofast gives STDOUT only
// through WriteTo(http.ResponseWriter), which parses the CGI header itself
// (lines over 1 KiB fail, local redirects become 302, reason phrases and
// field order are lost), and it cannot send FCGI_ABORT_REQUEST nor report
// END_REQUEST's statuses. Keeping connections (FCGI_KEEP_CONN) was
// measured against a connection per request on php-cgi: 71µs a request
// against 90µs.
//
// # Workers
//
// Each worker process gets a listening unix socket on fd 0
// (FCGI_LISTENSOCK_FILENO), as spawn-fcgi and Apache mod_fcgid give it,
// in a directory only gatewayd's user may enter; it leads its own process
// group, gets SIGKILL when gatewayd dies (Linux, FreeBSD), and has the
// configured environment only, with PHP_FCGI_CHILDREN=0, so that php-cgi
// serves from the one process gatewayd supervises rather than forking
// children of its own, and PHP_FCGI_MAX_REQUESTS set so that gatewayd,
// not PHP, decides when a worker is recycled. A worker is ready when it
// answers FCGI_GET_VALUES; NewPool fails, naming the pool, when one does
// not within the start timeout or exits first, and starts none.
//
// A worker serves one request at a time over one kept connection
// (FCGI_KEEP_CONN): no connect and accept per request. A request waits
// for an idle worker for up to the queue timeout, then gets 503. When the
// request's context ends first — a timeout, a client gone — the worker
// gets FCGI_ABORT_REQUEST; one that does not end the request within the
// kill grace is killed and replaced. A worker that exits or crashes is
// replaced at once, and after more crashes in a row with a back-off from
// 100ms doubling to 10s; after RapidFails failures within a minute (IIS's
// rapid-fail protection) the pool answers 503, with the reason in the
// log, until the minute has passed, instead of spinning. A worker is
// recycled — SIGTERM once it is idle, SIGKILL after the kill grace —
// after MaxRequests requests, or when its resident memory is over MaxRSS
// after a request. What a worker writes on its own stdout and stderr is
// logged line by line with its pid and the request it serves.
//
// Stop ends every worker (SIGTERM, SIGKILL after the kill grace) and
// returns once all are reaped; the daemon calls Close once the requests of
// a configuration are done, so workers finish their requests first.
//
// # Remote servers
//
// Remote keeps up to MaxConns connections, reusing idle ones
// (FCGI_KEEP_CONN). A server that cannot be reached gives 502 and one log
// line; a kept connection the server closed meanwhile is replaced, and a
// request without a body that failed on it before any response byte is
// sent again on the new one. An FCGI_OVERLOADED answer gives 503.
package worker
