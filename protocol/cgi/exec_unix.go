//go:build !windows

package cgi

// separators are the bytes that separate file path elements.
const separators = "/"
