package handler

import "testing"

func TestExecutableWindows(t *testing.T) {
	tests := []struct {
		pathext, path string
		want          bool
	}{
		{"", `C:\cgi-bin\app.exe`, true},
		{"", `C:\cgi-bin\APP.EXE`, true},
		{"", `C:\cgi-bin\run.bat`, true},
		{"", `C:\cgi-bin\run.cmd`, true},
		{"", `C:\cgi-bin\hello.py`, false},
		{"", `C:\cgi-bin\noext`, false},
		{".COM;.EXE;.BAT;.CMD;.VBS;.PY", `C:\cgi-bin\hello.py`, true},
		{".EXE", `C:\cgi-bin\run.bat`, false},
		{"; .exe ;", `C:\cgi-bin\app.exe`, true},
	}
	for _, tt := range tests {
		t.Run(tt.pathext+"|"+tt.path, func(t *testing.T) {
			t.Setenv("PATHEXT", tt.pathext)
			if got := Executable(tt.path, nil); got != tt.want {
				t.Errorf("Executable(%q) with PATHEXT %q = %v, want %v", tt.path, tt.pathext, got, tt.want)
			}
		})
	}
}
