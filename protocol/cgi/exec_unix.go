//go:build !windows

package cgi

import "io/fs"

// separators are the bytes that separate file path elements.
const separators = "/"

// executable reports whether the regular file fi may be run: one of its
// execute permission bits is set, as the script root requires.
func executable(_ string, fi fs.FileInfo) bool { return fi.Mode().Perm()&0o111 != 0 }
