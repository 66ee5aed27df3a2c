package environ

import (
	"maps"
	"slices"
	"testing"
)

func TestClone(t *testing.T) {
	e := Environ{"A": "1", "B": ""}
	c := e.Clone()
	if !maps.Equal(c, e) {
		t.Errorf("Clone(%v) = %v, want %v", e, c, e)
	}
	c["A"] = "2"
	if e["A"] != "1" {
		t.Errorf("Clone(%v): changing the copy changed the original", e)
	}
	var nilEnv Environ
	if c := nilEnv.Clone(); c == nil || len(c) != 0 {
		t.Errorf("Clone(nil) = %#v, want empty non-nil Environ", c)
	}
}

func TestList(t *testing.T) {
	tests := []struct {
		e    Environ
		want []string
	}{
		{nil, []string{}},
		{Environ{"B": "2", "A": "1", "C": ""}, []string{"A=1", "B=2", "C="}},
		// By name: "A" before "A0" although "A0=" < "A=" as strings.
		{Environ{"A0": "y", "A": "x", "A_": "z"}, []string{"A=x", "A0=y", "A_=z"}},
		// Unrepresentable entries are dropped.
		{Environ{
			"OK":     "a=b",
			"NUL":    "a\x00b",
			"X=Y":    "1",
			"X\x00Y": "1",
			"":       "1",
			"LF":     "a\nb",
		}, []string{"LF=a\nb", "OK=a=b"}},
	}
	for _, tt := range tests {
		if got := tt.e.List(); !slices.Equal(got, tt.want) {
			t.Errorf("List(%q) = %q, want %q", tt.e, got, tt.want)
		}
	}
}

func TestRepresentable(t *testing.T) {
	tests := []struct {
		name, value string
		want        bool
	}{
		{"A", "", true},
		{"A", "x=y\n\xff", true},
		{"", "x", false},
		{"A=B", "x", false},
		{"A\x00", "x", false},
		{"A", "x\x00", false},
	}
	for _, tt := range tests {
		if got := Representable(tt.name, tt.value); got != tt.want {
			t.Errorf("Representable(%q, %q) = %v, want %v", tt.name, tt.value, got, tt.want)
		}
	}
}
func TestDropCaseDuplicates(t *testing.T) {
	tests := []struct {
		name        string
		in          Environ
		want        Environ
		wantDropped []string
	}{
		{"all upper case", Environ{"HTTP_X": "1", "PATH_INFO": "/"}, Environ{"HTTP_X": "1", "PATH_INFO": "/"}, nil},
		{"lower-case name alone", Environ{"foo": "1", "HTTP_X": "2"}, Environ{"foo": "1", "HTTP_X": "2"}, nil},
		{"upper case kept", Environ{"http_x": "evil", "HTTP_X": "good"}, Environ{"HTTP_X": "good"}, []string{"http_x"}},
		{"three spellings", Environ{"Http_X": "a", "http_x": "b", "HTTP_X": "c"}, Environ{"HTTP_X": "c"}, []string{"Http_X", "http_x"}},
		{"no upper-case spelling", Environ{"http_x": "a", "Http_x": "b"}, Environ{"Http_x": "b"}, []string{"http_x"}},
		{"non-ASCII bytes kept apart", Environ{"X_\xe4": "a", "x_\xc4": "b"}, Environ{"X_\xe4": "a", "x_\xc4": "b"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.in.Clone()
			dropped := e.DropCaseDuplicates()
			if !slices.Equal(dropped, tt.wantDropped) || !maps.Equal(e, tt.want) {
				t.Errorf("DropCaseDuplicates(%v) = %v, leaving %v; want %v, leaving %v", tt.in, dropped, e, tt.wantDropped, tt.want)
			}
		})
	}
}
