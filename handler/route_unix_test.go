//go:build !windows

package handler_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"gatewayd/handler"
)

func TestCheckScript(t *testing.T) {
	dir := t.TempDir()
	root, _ := filepath.EvalSymlinks(dir)
	write := func(name string, mode os.FileMode) string {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	script := write("cgi-bin/a.cgi", 0o755)
	plain := write("cgi-bin/plain", 0o644)
	tests := []struct {
		name, path, root string
		ok               bool
	}{
		{"inside the root", script, root, true},
		{"no root", script, "", true},
		{"outside the root", script, filepath.Join(root, "other"), false},
		{"a sibling with the root as a prefix", script, filepath.Join(root, "cgi"), false},
		{"not executable", plain, root, false},
		{"not executable, no root", plain, "", false},
		{"a directory", filepath.Join(root, "cgi-bin"), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fi, err := os.Stat(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			err = handler.CheckScript(tt.path, fi, tt.root)
			var he *handler.Error
			switch {
			case tt.ok && err != nil:
				t.Errorf("CheckScript(%q, root %q) = %v, want nil", tt.path, tt.root, err)
			case !tt.ok && (!errors.As(err, &he) || he.Status != 403):
				t.Errorf("CheckScript(%q, root %q) = %v, want a 403 error", tt.path, tt.root, err)
			}
		})
	}
}
