// Package handler is gatewayd's request pipeline, modelled on wsgiref's
// BaseHandler: it builds a request's CGI environment, routes it to an App,
// parses and validates the App's CGI response, and emits it in gateway form
// ("Status: 200 OK", for CGI, FastCGI and SCGI) or origin form
// ("HTTP/1.1 200 OK" with Date and Server, for the HTTP front-end).
//
// It knows CGI semantics and nothing of wire formats: front-ends decode their
// protocol into a Request and give the handler a ResponseWriter.
package handler
