//go:build !windows

package handler

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Executable reports whether the regular file fi may be run: one of its
// execute permission bits is set.
func Executable(_ string, fi fs.FileInfo) bool { return fi.Mode().Perm()&0o111 != 0 }

// realBelow reports, cheaply, that path is its own real path inside root,
// itself a real path: path is clean, lies below root, and no name after
// root's is a symlink. That is one lstat for each name below the root —
// one for a script at the root's top — where resolving path whole
// (EvalSymlinks) costs one for each name from "/". When it is false,
// path may still be inside root: the caller resolves it.
func realBelow(path, root string) bool {
	rest, ok := strings.CutPrefix(path, root+"/")
	if !ok || rest == "" || filepath.Clean(path) != path {
		return false
	}
	dir := root
	for name := range strings.SplitSeq(rest, "/") {
		dir += "/" + name
		fi, err := os.Lstat(dir)
		if err != nil || fi.Mode()&fs.ModeSymlink != 0 {
			return false
		}
	}
	return true
}
