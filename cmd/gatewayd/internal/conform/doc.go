// Package conform is gatewayd check: wsgiref.validate for CGI programs.
// Run runs a program once, as gatewayd serve runs it behind a web server,
// and reports every rule of the pipeline's table (handler.Rules) that its
// response broke, with the response as gatewayd forwards it.
//
// Nothing here decides what a response may be: the header block is read
// by handler.Lint, the same parser and Check the pipeline uses, and the
// forwarded forms come from gatewayd's own front-ends (FastCGI, CGI, HTTP)
// replaying what the program printed, in lenient and in strict mode. What
// check calls conforming is what serve --strict forwards unchanged.
//
// # Profiles
//
// A profile is the request of one web server, with the front-end gatewayd
// runs behind it:
//
//   - nginx: the parameters of nginx 1.22's fastcgi_params (empty
//     CONTENT_TYPE and CONTENT_LENGTH sent, SCRIPT_NAME the whole path, no
//     PATH_INFO), over gatewayd's FastCGI front-end;
//   - apache: Apache 2.4 mod_cgi's environment for gatewayd cgi PROGRAM
//     under /cgi-bin/ (SCRIPT_FILENAME, CONTEXT_PREFIX, SERVER_SIGNATURE,
//     no Authorization), through the CGI front-end;
//   - iis: IIS 10's CgiModule without allowPathInfo (PATH_INFO repeating
//     SCRIPT_NAME, HTTPS=off, ALL_HTTP), through gatewayd cgi --iis;
//   - http: a request to gatewayd serve --http on the loopback interface.
//
// The body, when there is one, is given to the program in a file, whose
// offset after the program exits says how much of it the program read.
//
// # JSON
//
// gatewayd check --json prints a Report as one JSON object:
//
//	program, args, profile   the program run and the profile played
//	request                  method, uri, body_bytes, and env: the
//	                         environment the program was given
//	runs[]                   each run of the program (a local redirect
//	                         runs it again): pid, exit_code (-1 for a
//	                         signal), signal, duration_ms, body_bytes,
//	                         body_read, output_bytes, stderr_bytes, stderr
//	violations[]             rule (an id of handler.Rules), severity
//	                         ("error", "repaired" or "warning"), run (when
//	                         there are several), line and text (the header
//	                         line at fault), field, problem, says (the
//	                         rule), fix
//	response                 kind, status and strict (the status gatewayd
//	                         serve and serve --strict send), gateway (the
//	                         response as FastCGI, SCGI and CGI carry it),
//	                         origin (as gatewayd serve --http sends it)
//	errors, repaired,        the violations by severity
//	warnings
//	conforming               no error and nothing repaired
//
// Fields may be added; none will change meaning.
package conform
