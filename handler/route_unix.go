//go:build !windows

package handler

import "io/fs"

// Executable reports whether the regular file fi may be run: one of its
// execute permission bits is set.
func Executable(_ string, fi fs.FileInfo) bool { return fi.Mode().Perm()&0o111 != 0 }
