package cgi

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// separators are the bytes that separate file path elements.
const separators = `/\`

// executable reports whether the regular file at path may be run: Windows
// has no execute bit, so its extension must be one of PATHEXT's, as
// CreateProcess and cmd.exe decide (default ".COM;.EXE;.BAT;.CMD").
func executable(path string, _ fs.FileInfo) bool {
	ext := filepath.Ext(path)
	if ext == "" {
		return false
	}
	exts := os.Getenv("PATHEXT")
	if exts == "" {
		exts = ".COM;.EXE;.BAT;.CMD"
	}
	for _, e := range strings.Split(exts, ";") {
		if strings.EqualFold(strings.TrimSpace(e), ext) {
			return true
		}
	}
	return false
}
