// Package integration holds gatewayd's end-to-end tests against real peers
// and its benchmarks. The tests build the gatewayd binary and drive it over
// loopback sockets the way users and web servers do. A test that needs a
// peer that is not installed skips with a message, unless
// GATEWAYD_INTEGRATION is set (as CI sets it), when it fails instead.
package integration
