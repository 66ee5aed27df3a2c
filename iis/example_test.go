package iis_test

import (
	"fmt"

	"gatewayd/environ"
	"gatewayd/iis"
)

// IIS with its default allowPathInfo="false" repeats SCRIPT_NAME in
// PATH_INFO, and PATH_TRANSLATED maps the whole of it; Fix gives the RFC 3875
// values and keeps the script's file in SCRIPT_FILENAME.
func ExampleFix() {
	env := environ.Environ{
		"SERVER_SOFTWARE": "Microsoft-IIS/10.0",
		"SCRIPT_NAME":     "/cgi-bin/app.exe",
		"PATH_INFO":       "/cgi-bin/app.exe/extra",
		"PATH_TRANSLATED": `C:\inetpub\wwwroot\cgi-bin\app.exe\extra`,
		"HTTPS":           "off",
	}
	iis.Fix(env)
	fmt.Println(env["PATH_INFO"])
	fmt.Println(env["PATH_TRANSLATED"])
	fmt.Println(env["SCRIPT_FILENAME"])
	fmt.Println(environ.Scheme(env))
	// Output:
	// /extra
	// C:\inetpub\wwwroot\extra
	// C:\inetpub\wwwroot\cgi-bin\app.exe
	// http
}

// wsgiref's segment-boundary rule: "/apple" does not begin with the script
// "/app".
func ExampleFix_segmentBoundary() {
	env := environ.Environ{"SCRIPT_NAME": "/app", "PATH_INFO": "/apple"}
	iis.Fix(env)
	fmt.Println(env["PATH_INFO"])
	// Output: /apple
}

func ExampleDetect() {
	fmt.Println(iis.Detect(environ.Environ{"SERVER_SOFTWARE": "Microsoft-IIS/10.0"}))
	fmt.Println(iis.Detect(environ.Environ{"SERVER_SOFTWARE": "Apache/2.4.62 (Win64)"}))
	// Output:
	// true
	// false
}
