//go:build unix

package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"gatewayd/handler"
	"gatewayd/handler/subprocess"
)

// programPlan is a plan of one HTTP listener and one program at "/".
func programPlan(addr, program string) plan {
	return plan{
		listen: []listenSpec{{"http", addr}},
		mounts: []mountPlan{{prefix: "/", handler: handler.Config{Program: program}, runner: &subprocess.Config{}, what: program}},
	}
}

func writeProgram(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func (d *daemon) url(spec listenSpec) string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return "http://" + d.listeners[spec][0].l.Addr().String()
}

// TestDaemonReload: a reload serves new requests with the new plan at once,
// lets a request in flight finish under the old one, keeps the listeners
// both plans have, opens and closes the others, and a plan that cannot be
// built changes nothing.
func TestDaemonReload(t *testing.T) {
	o := defaultServeOptions()
	d := newDaemon(o, hclog.NewNullLogger(), "gatewayd/test")
	dir := t.TempDir()
	gate, started := filepath.Join(dir, "gate"), filepath.Join(dir, "started")
	a := writeProgram(t, "a.cgi", `touch "`+started+`"; while [ ! -e "`+gate+`" ]; do sleep 0.01; done; echo a`)
	b := writeProgram(t, "b.cgi", "echo b")
	kept := listenSpec{"http", "127.0.0.1:0"}
	if err := d.Start(programPlan(kept.address, a)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Shutdown(context.Background()); err != nil {
			t.Errorf("drain: %v", err)
		}
	})
	url := d.url(kept)

	var wg sync.WaitGroup
	var inFlight string
	wg.Go(func() { // held by the gate
		if resp, err := http.Get(url); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			inFlight = string(b)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(started); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first program did not start")
		}
	}

	next := programPlan(kept.address, b)
	next.listen = append(next.listen, listenSpec{"scgi", "127.0.0.1:0"})
	if err := d.Reload(next); err != nil {
		t.Fatal(err)
	}
	if _, got := get(t, url); got != "b\n" {
		t.Errorf("after the reload the kept listener answers %q, want b's answer", got)
	}
	os.WriteFile(gate, nil, 0o644)
	wg.Wait()
	if inFlight != "a\n" {
		t.Errorf("the request in flight during the reload got %q, want a's answer", inFlight)
	}

	bad := programPlan(kept.address, b)
	bad.mounts[0].handler = handler.Config{Root: filepath.Join(t.TempDir(), "missing")}
	if err := d.Reload(bad); err == nil {
		t.Errorf("Reload with a missing root = nil error")
	}
	if _, got := get(t, url); got != "b\n" {
		t.Errorf("after a failed reload the listener answers %q, want b's answer still", got)
	}

	d.mu.RLock()
	scgiAddr := d.listeners[listenSpec{"scgi", "127.0.0.1:0"}][0].l.Addr().String()
	d.mu.RUnlock()
	if err := d.Reload(programPlan(kept.address, b)); err != nil {
		t.Fatal(err)
	}
	if c, err := net.Dial("tcp", scgiAddr); err == nil {
		c.Close()
		t.Errorf("the SCGI listener the last plan dropped still accepts")
	}
	if _, got := get(t, url); !strings.HasPrefix(got, "b") {
		t.Errorf("kept listener after the last reload = %q", got)
	}
}

// TestDrainAfterReload: a drain that begins while the deployment a reload
// replaced still finishes a request waits for it and ends cleanly.
func TestDrainAfterReload(t *testing.T) {
	d := newDaemon(defaultServeOptions(), hclog.NewNullLogger(), "gatewayd/test")
	dir := t.TempDir()
	gate, started := filepath.Join(dir, "gate"), filepath.Join(dir, "started")
	a := writeProgram(t, "a.cgi", `touch "`+started+`"; while [ ! -e "`+gate+`" ]; do sleep 0.01; done; echo a`)
	spec := listenSpec{"http", "127.0.0.1:0"}
	if err := d.Start(programPlan(spec.address, a)); err != nil {
		t.Fatal(err)
	}
	url := d.url(spec)
	var wg sync.WaitGroup
	wg.Go(func() {
		if resp, err := http.Get(url); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(started); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the program did not start")
		}
	}
	if err := d.Reload(programPlan(spec.address, a)); err != nil {
		t.Fatal(err)
	}
	drained := make(chan error, 1)
	go func() { drained <- d.Shutdown(context.Background()) }()
	time.Sleep(50 * time.Millisecond) // the drain waits for the request
	os.WriteFile(gate, nil, 0o644)
	if err := <-drained; err != nil {
		t.Errorf("drain = %v", err)
	}
	wg.Wait()
}

// TestDeploymentCloseTwice: a reload and the drain may both close the
// deployment a reload replaced; the second close does nothing.
func TestDeploymentCloseTwice(t *testing.T) {
	dep, err := build(programPlan("127.0.0.1:0", "/bin/true"), "gatewayd/test", hclog.NewNullLogger(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	dep.server.Serve(t.Context(), &handler.Request{Env: map[string]string{"REQUEST_METHOD": "GET", "SERVER_PROTOCOL": "HTTP/1.1"}},
		handler.NewGatewayWriter(&out)) // starts the runner's child starter
	dep.close()
	dep.close()
}
