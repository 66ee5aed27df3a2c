//go:build unix

package integration

import (
	"go/build"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func runtimeCPUs() int { return runtime.NumCPU() }

// TestPackagesDocumented: every package has a doc comment saying what it
// owns.
func TestPackagesDocumented(t *testing.T) {
	err := filepath.WalkDir("..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if name := d.Name(); path != ".." && (strings.HasPrefix(name, ".") || name == "testdata") {
			return filepath.SkipDir
		}
		pkg, err := build.ImportDir(path, 0)
		if _, ok := err.(*build.NoGoError); ok {
			return nil
		}
		if err != nil {
			return err
		}
		if strings.TrimSpace(pkg.Doc) == "" {
			t.Errorf("package %s in %s has no doc comment", pkg.Name, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
