package handler

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
)

// CPython's test_wsgiref HeaderTests.testMappingInterface.
func TestHeadersMapping(t *testing.T) {
	for _, n := range []int{0, 1} {
		fields := []Field{{"x", "y"}}[:n]
		h, err := NewHeaders(fields...)
		if err != nil {
			t.Fatalf("NewHeaders(%q) error %v", fields, err)
		}
		if got := h.Len(); got != n {
			t.Errorf("NewHeaders(%q).Len() = %d, want %d", fields, got, n)
		}
	}
	var zero Headers
	if got := zero.Len(); got != 0 {
		t.Errorf("Headers{}.Len() = %d, want 0", got)
	}
	zero.Del("foo") // no panic, no error

	test := []Field{{"x", "y"}}
	h, _ := NewHeaders(test...)
	if got := h.Keys(); !slices.Equal(got, []string{"x"}) {
		t.Errorf("Keys() = %q, want [x]", got)
	}
	if got := h.Values(); !slices.Equal(got, []string{"y"}) {
		t.Errorf("Values() = %q, want [y]", got)
	}
	items := h.Fields()
	if !slices.Equal(items, test) {
		t.Errorf("Fields() = %q, want %q", items, test)
	}
	items[0].Value = "changed"
	test[0].Value = "changed"
	if got, _ := h.Get("x"); got != "y" {
		t.Errorf("Get(x) after changing Fields() and the NewHeaders argument = %q, want y", got)
	}

	h = new(Headers)
	if err := h.Set("Foo", "bar"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"foo", "Foo", "FOO"} {
		if !h.Has(name) {
			t.Errorf("Has(%q) = false, want true", name)
		}
		if got, ok := h.Get(name); got != "bar" || !ok {
			t.Errorf("Get(%q) = %q, %v, want bar, true", name, got, ok)
		}
		if got := h.GetAll(name); !slices.Equal(got, []string{"bar"}) {
			t.Errorf("GetAll(%q) = %q, want [bar]", name, got)
		}
	}
	if h.Has("bar") {
		t.Errorf("Has(bar) = true, want false")
	}
	if got, ok := h.Get("bar"); got != "" || ok {
		t.Errorf("Get(bar) = %q, %v, want \"\", false", got, ok)
	}
	if got := h.GetAll("bar"); len(got) != 0 {
		t.Errorf("GetAll(bar) = %q, want none", got)
	}

	h.Set("foo", "baz")
	if got, _ := h.Get("FOO"); got != "baz" {
		t.Errorf("Get(FOO) = %q, want baz", got)
	}
	if got := h.GetAll("foo"); !slices.Equal(got, []string{"baz"}) {
		t.Errorf("GetAll(foo) = %q, want [baz]", got)
	}
	for _, tt := range []struct{ name, want string }{{"foo", "baz"}, {"zoo", "whee"}} {
		if got, err := h.SetDefault(tt.name, "whee"); got != tt.want || err != nil {
			t.Errorf("SetDefault(%q, whee) = %q, %v, want %q, nil", tt.name, got, err, tt.want)
		}
	}
	if got, _ := h.Get("foo"); got != "baz" {
		t.Errorf("Get(foo) = %q, want baz", got)
	}
	if got, _ := h.Get("zoo"); got != "whee" {
		t.Errorf("Get(zoo) = %q, want whee", got)
	}
}

func TestHeadersEmptyValuePresent(t *testing.T) {
	var h Headers
	h.Set("X", "")
	if !h.Has("x") {
		t.Errorf("Has(x) with value \"\" = false, want true")
	}
}

// Set moves the field to the end; Del removes every match (as
// wsgiref.headers.Headers' __setitem__ and __delitem__ do).
func TestHeadersSetDel(t *testing.T) {
	h, _ := NewHeaders(Field{"A", "1"}, Field{"B", "2"}, Field{"a", "3"}, Field{"C", "4"})
	h.Set("A", "5")
	want := []Field{{"B", "2"}, {"C", "4"}, {"A", "5"}}
	if got := h.Fields(); !slices.Equal(got, want) {
		t.Errorf("after Set(A, 5) Fields() = %q, want %q", got, want)
	}
	h.Add("b", "6")
	h.Del("B")
	want = []Field{{"C", "4"}, {"A", "5"}}
	if got := h.Fields(); !slices.Equal(got, want) {
		t.Errorf("after Del(B) Fields() = %q, want %q", got, want)
	}
}

// wsgiref.headers.Headers.add_header: its behaviour, vector by vector.
func TestHeadersAdd(t *testing.T) {
	tests := []struct {
		name   string
		value  *string // nil: AddParams
		params []Param
		want   string
	}{
		{"content-disposition", ptr("attachment"), []Param{{"filename", "bud.gif"}}, `attachment; filename="bud.gif"`},
		{"X", nil, []Param{{"a", "1"}}, `a="1"`},
		{"X", nil, nil, ``},
		{"X", ptr("v"), []Param{{"cheese", ""}}, `v; cheese`},
		{"X", ptr("v"), []Param{{"foo_bar", "baz"}, {"a_b_c", ""}}, `v; foo-bar="baz"; a-b-c`},
		{"X", ptr("v"), []Param{{"p", ""}}, `v; p`},
		{"X", ptr("v"), []Param{{"p", `a"b\c`}}, `v; p="a\"b\\c"`},
		{"X", ptr("v"), []Param{{"p", "a b;c"}}, `v; p="a b;c"`},
		{"X", ptr("v"), []Param{{"p", "token"}}, `v; p="token"`},
		{"X", ptr(""), []Param{{"p", "1"}}, `; p="1"`},
		{"X", ptr(""), nil, ``},
		{"X", ptr("v"), []Param{{"z", "1"}, {"a", "2"}, {"m", ""}}, `v; z="1"; a="2"; m`},
		{"X", ptr("v"), []Param{{"p", "tab\there"}}, `v; p="tab` + "\t" + `here"`},
		{"X", ptr("caf\xe9"), []Param{{"p", "\xff"}}, "caf\xe9; p=\"\xff\""},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			var h Headers
			var err error
			call := ""
			if tt.value == nil {
				err = h.AddParams(tt.name, tt.params...)
				call = fmt.Sprintf("AddParams(%q, %q)", tt.name, tt.params)
			} else {
				err = h.Add(tt.name, *tt.value, tt.params...)
				call = fmt.Sprintf("Add(%q, %q, %q)", tt.name, *tt.value, tt.params)
			}
			if err != nil {
				t.Fatalf("%s error %v", call, err)
			}
			want := []Field{{tt.name, tt.want}}
			if got := h.Fields(); !slices.Equal(got, want) {
				t.Errorf("%s gives %q, want %q", call, got, want)
			}
		})
	}
}

func ptr(s string) *string { return &s }

// CPython's test_wsgiref HeaderTests.testExtras, and the wire form.
func TestHeadersString(t *testing.T) {
	var h Headers
	if got := h.String(); got != "\r\n" {
		t.Errorf("Headers{}.String() = %q, want %q", got, "\r\n")
	}
	h.Add("foo", "bar", Param{"baz", "spam"})
	if got, _ := h.Get("foo"); got != `bar; baz="spam"` {
		t.Errorf("Get(foo) = %q, want %q", got, `bar; baz="spam"`)
	}
	if got, want := h.String(), "foo: bar; baz=\"spam\"\r\n\r\n"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	h.Add("Foo", "bar", Param{"cheese", ""})
	if got, want := h.GetAll("foo"), []string{`bar; baz="spam"`, `bar; cheese`}; !slices.Equal(got, want) {
		t.Errorf("GetAll(foo) = %q, want %q", got, want)
	}
	want := "foo: bar; baz=\"spam\"\r\nFoo: bar; cheese\r\n\r\n"
	if got := h.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	var buf bytes.Buffer
	n, err := h.WriteTo(&buf)
	if buf.String() != want || n != int64(len(want)) || err != nil {
		t.Errorf("WriteTo() = %d, %v, wrote %q, want %d, nil, %q", n, err, buf.String(), len(want), want)
	}
}

// CPython's test_wsgiref HeaderTests.testRaisesControlCharacters, plus ':'
// in names and the checks of NewHeaders and SetDefault.
func TestHeadersControlChars(t *testing.T) {
	type op struct {
		name string
		do   func(h *Headers) error
	}
	var chars []byte
	for c := range byte(0x20) {
		chars = append(chars, c)
	}
	chars = append(chars, 0x7F)
	for _, c := range chars {
		s := string(c)
		bad := []op{
			{"Set(name)", func(h *Headers) error { return h.Set("key"+s, "val") }},
			{"Add(name)", func(h *Headers) error { return h.Add("key"+s, "val", Param{"param", "param"}) }},
			{"AddParams(name)", func(h *Headers) error { return h.AddParams("key"+s, Param{"param", "param"}) }},
			{"Add(param key)", func(h *Headers) error { return h.Add("key", "val", Param{"param" + s, "param"}) }},
			{"SetDefault(name)", func(h *Headers) error { _, err := h.SetDefault("key"+s, "val"); return err }},
			{"NewHeaders(name)", func(*Headers) error { _, err := NewHeaders(Field{"key" + s, "val"}); return err }},
		}
		valueOps := []op{
			{"Set(value)", func(h *Headers) error { return h.Set("key", "val"+s) }},
			{"Add(value)", func(h *Headers) error { return h.Add("key", "val"+s, Param{"param", "param"}) }},
			{"Add(param value)", func(h *Headers) error { return h.Add("key", "val", Param{"param", "param" + s}) }},
			{"AddParams(param value)", func(h *Headers) error { return h.AddParams("key", Param{"param", "param" + s}) }},
			{"SetDefault(value)", func(h *Headers) error { _, err := h.SetDefault("key", "val"+s); return err }},
			{"NewHeaders(value)", func(*Headers) error { _, err := NewHeaders(Field{"key", "val" + s}); return err }},
		}
		var good []op
		if c == '\t' {
			good = valueOps // HTAB is allowed in values (PR 144118)
		} else {
			bad = append(bad, valueOps...)
		}
		for _, o := range bad {
			t.Run(fmt.Sprintf("%s/%#02x", o.name, c), func(t *testing.T) {
				h := new(Headers)
				if err := o.do(h); !errors.Is(err, ErrControlChar) {
					t.Errorf("%s with %q = %v, want ErrControlChar", o.name, c, err)
				}
				if h.Len() != 0 {
					t.Errorf("%s with %q added %q", o.name, c, h.Fields())
				}
			})
		}
		for _, o := range good {
			t.Run(fmt.Sprintf("%s/%#02x", o.name, c), func(t *testing.T) {
				if err := o.do(new(Headers)); err != nil {
					t.Errorf("%s with %q = %v, want nil", o.name, c, err)
				}
			})
		}
	}
}

func TestHeadersNameColon(t *testing.T) {
	var h Headers
	if err := h.Set("X-A: 1\r\nX-B", "v"); !errors.Is(err, ErrControlChar) {
		t.Errorf("Set(%q, v) = %v, want ErrControlChar", "X-A: 1\r\nX-B", err)
	}
	if err := h.Set("X:A", "v"); !errors.Is(err, ErrControlChar) {
		t.Errorf("Set(%q, v) = %v, want ErrControlChar", "X:A", err)
	}
	if err := h.Set("X", "a: b"); err != nil {
		t.Errorf("Set(X, %q) = %v, want nil", "a: b", err)
	}
}

// SetDefault checks nothing when the field is present, as wsgiref.
func TestHeadersSetDefaultPresent(t *testing.T) {
	h, _ := NewHeaders(Field{"K", "v"})
	if got, err := h.SetDefault("k", "bad\n"); got != "v" || err != nil {
		t.Errorf("SetDefault(k, %q) = %q, %v, want v, nil", "bad\n", got, err)
	}
}

// Bytes from 0x80 up, C1 controls included, are allowed (as by
// wsgiref.headers since CPython gh-143916) and only ASCII case is folded.
func TestHeadersHighBytes(t *testing.T) {
	h := new(Headers)
	for _, s := range []string{"\x80", "\x9f", "\xe9", "\xff"} {
		if err := h.Set("X"+s, "v"+s); err != nil {
			t.Errorf("Set(%q, %q) = %v, want nil", "X"+s, "v"+s, err)
		}
	}
	h.Set("\xc9", "upper")
	if h.Has("\xe9") {
		t.Errorf("Has(%q) = true after Set(%q), want false: only ASCII case folds", "\xe9", "\xc9")
	}
}
