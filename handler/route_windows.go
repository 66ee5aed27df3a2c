package handler

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Executable reports whether the regular file at path may be run. Windows
// has no execute bit: the file's extension must be one of PATHEXT's, as
// for CreateProcess and cmd.exe (default ".COM;.EXE;.BAT;.CMD"), compared
// case-insensitively. A script such as hello.py is run through a PROGRAM
// (python.exe) instead.
func Executable(path string, _ fs.FileInfo) bool {
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

// realBelow is false: on Windows path is always resolved whole, which
// also settles case and short names.
func realBelow(_, _ string) bool { return false }
