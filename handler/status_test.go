package handler

import (
	"errors"
	"testing"
)

var statusTests = []struct {
	in   string
	want Status
	ok   bool
}{
	// RFC 3875 §6.3.3.
	{"404 Not Found", Status{404, "Not Found"}, true},
	{"404", Status{404, "Not Found"}, true},
	{"30 FooBar", Status{}, false},
	{"304 FooBar", Status{304, "FooBar"}, true},
	{"200 FooBar", Status{200, "FooBar"}, true},
	{"2000 OK", Status{}, false},
	{"099 X", Status{}, false},
	{"20X OK", Status{}, false},
	// Optional whitespace around the field value is trimmed (RFC 3875 §6.3).
	{" 200 OK", Status{200, "OK"}, true},
	{"\t200 OK \t", Status{200, "OK"}, true},
	{"404 ", Status{404, "Not Found"}, true},
	// The reason is kept as given, inner spaces and high bytes included.
	{"200 Very  OK", Status{200, "Very  OK"}, true},
	{"404  Gone", Status{404, " Gone"}, true},
	{"200 caf\xe9", Status{200, "caf\xe9"}, true},
	{"599", Status{599, ""}, true},
	{"999 Max", Status{999, "Max"}, true},
	{"100", Status{100, "Continue"}, true},
	// Control characters are rejected, HTAB included (wsgiref gh-144370).
	{"200\tOK", Status{}, false},
	{"200 O\tK", Status{}, false},
	{"200 OK\r\nX: y", Status{}, false},
	{"200 O\x00K", Status{}, false},
	{"200 O\x7fK", Status{}, false},
	{"", Status{}, false},
	{"   ", Status{}, false},
	{"2", Status{}, false},
	{"000", Status{}, false},
	{"+20 OK", Status{}, false},
	{"-200 OK", Status{}, false},
	{"200OK", Status{}, false},
	{"200-OK", Status{}, false},
	{"\uff12\uff10\uff10 OK", Status{}, false}, // fullwidth digits
}

func TestParseStatus(t *testing.T) {
	for _, tt := range statusTests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseStatus(tt.in)
			if !tt.ok {
				if !errors.Is(err, ErrBadStatus) {
					t.Errorf("ParseStatus(%q) = %+v, %v, want ErrBadStatus", tt.in, got, err)
				}
				return
			}
			if got != tt.want || err != nil {
				t.Errorf("ParseStatus(%q) = %+v, %v, want %+v, nil", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestStatusString(t *testing.T) {
	tests := []struct {
		in   Status
		want string
	}{
		{Status{404, "Not Found"}, "404 Not Found"},
		{Status{404, ""}, "404 Not Found"},
		{Status{200, "FooBar"}, "200 FooBar"},
		{Status{599, ""}, "599"},
		{Status{599, "Custom"}, "599 Custom"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzParseStatus(f *testing.F) {
	for _, tt := range statusTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		st, err := ParseStatus(s)
		if err != nil {
			if !errors.Is(err, ErrBadStatus) {
				t.Fatalf("ParseStatus(%q) error %v, want ErrBadStatus", s, err)
			}
			return
		}
		if st.Code < 100 || st.Code > 999 {
			t.Fatalf("ParseStatus(%q).Code = %d, want 100-999", s, st.Code)
		}
		again, err := ParseStatus(st.String())
		if again != st || err != nil {
			t.Fatalf("ParseStatus(%q) = %+v, %v, want %+v, nil (from %q)", st.String(), again, err, st, s)
		}
	})
}
