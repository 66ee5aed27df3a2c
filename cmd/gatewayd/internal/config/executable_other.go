//go:build !windows

package config

import "io/fs"

// executable says whether the regular file fi may be run: whether it has
// an execute bit.
func executable(fi fs.FileInfo) bool { return fi.Mode()&0o111 != 0 }
