package handler

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrControlChar is the error, wrapped, when a header name or value holds a
// character that would corrupt the header block on the wire.
var ErrControlChar = errors.New("handler: control characters not allowed in headers")

// A Field is one header field. Name and Value hold raw bytes: nothing is
// decoded, and bytes from 0x80 up pass through unchanged.
type Field struct {
	Name, Value string
}

// Headers is an ordered list of header fields, with the semantics of Python's
// wsgiref.headers.Headers: names keep the case they were given, lookups
// ignore ASCII case, and duplicates are kept in order. The zero value is an
// empty Headers ready to use.
//
// Every name and value is checked when it is added, as wsgiref does since the
// 2026 fix (gh-143916): names may not contain control characters
// [\x00-\x1F\x7F], values may not contain them except HTAB. In addition to
// wsgiref, names may not contain ':', which would split the field in two on
// the wire. Names are not otherwise required to be tokens.
type Headers struct {
	fields []Field
}

// NewHeaders returns Headers holding a copy of fields, in order, after checking
// every one of them. Unlike wsgiref, which keeps the caller's list, later
// changes to the Headers are not seen in fields.
func NewHeaders(fields ...Field) (*Headers, error) {
	for _, f := range fields {
		if err := checkField(f.Name, f.Value); err != nil {
			return nil, err
		}
	}
	return &Headers{fields: append([]Field(nil), fields...)}, nil
}

// Len returns the number of fields, duplicates included.
func (h *Headers) Len() int { return len(h.fields) }

// Get returns the value of the first field named name, ignoring case, and
// whether there is one. A field whose value is "" is present.
func (h *Headers) Get(name string) (string, bool) {
	for _, f := range h.fields {
		if equalFold(f.Name, name) {
			return f.Value, true
		}
	}
	return "", false
}

// Has reports whether a field named name is present, ignoring case.
func (h *Headers) Has(name string) bool {
	_, ok := h.Get(name)
	return ok
}

// GetAll returns the values of all fields named name, ignoring case, in
// order; nil if there are none.
func (h *Headers) GetAll(name string) []string {
	var vs []string
	for _, f := range h.fields {
		if equalFold(f.Name, name) {
			vs = append(vs, f.Value)
		}
	}
	return vs
}

// Set removes every field named name and appends one field name: value at
// the end, so the field moves to the end even if it was present.
func (h *Headers) Set(name, value string) error {
	if err := checkField(name, value); err != nil {
		return err
	}
	h.Del(name)
	h.fields = append(h.fields, Field{name, value})
	return nil
}

// Del removes every field named name, ignoring case. It does nothing if there
// is none.
func (h *Headers) Del(name string) {
	h.filter(func(f Field) bool { return !equalFold(f.Name, name) })
}

// SetDefault returns the value of the first field named name if there is
// one. Otherwise it appends name: value and returns value.
func (h *Headers) SetDefault(name, value string) (string, error) {
	if v, ok := h.Get(name); ok {
		return v, nil
	}
	if err := checkField(name, value); err != nil {
		return "", err
	}
	h.fields = append(h.fields, Field{name, value})
	return value, nil
}

// A Param is a parameter for Add and AddParams, formatted as wsgiref's
// add_header formats a keyword argument: each '_' in Key becomes '-'; an
// empty Value gives the bare key; any other Value is always quoted, with '\'
// and '"' escaped by a backslash. (wsgiref gives the bare key for both None
// and "", so one empty Value stands for both.)
type Param struct {
	Key, Value string
}

// Add appends a field name whose value is value followed by params, joined
// by "; ": Add("Content-Disposition", "attachment", Param{"filename",
// "bud.gif"}) gives `attachment; filename="bud.gif"`. value is used even if
// it is "", which gives a value starting with "; " when there are params.
// Add never replaces an existing field.
func (h *Headers) Add(name, value string, params ...Param) error {
	return h.add(name, []string{value}, params)
}

// AddParams is Add without a leading value, wsgiref's add_header with
// _value=None: the field's value is only the params joined by "; ", or ""
// if there are none.
func (h *Headers) AddParams(name string, params ...Param) error {
	return h.add(name, nil, params)
}

func (h *Headers) add(name string, parts []string, params []Param) error {
	if err := checkName(name); err != nil {
		return err
	}
	for _, p := range params {
		if err := checkName(p.Key); err != nil {
			return err
		}
		key := strings.ReplaceAll(p.Key, "_", "-")
		if p.Value == "" {
			parts = append(parts, key)
			continue
		}
		v := strings.ReplaceAll(p.Value, `\`, `\\`)
		v = strings.ReplaceAll(v, `"`, `\"`)
		parts = append(parts, key+`="`+v+`"`)
	}
	// Checking the joined value checks value and every param value:
	// quoting adds no control characters.
	value := strings.Join(parts, "; ")
	if err := checkValue(value); err != nil {
		return err
	}
	h.fields = append(h.fields, Field{name, value})
	return nil
}

// Keys returns the names of all fields, in order, duplicates included.
func (h *Headers) Keys() []string {
	ks := make([]string, len(h.fields))
	for i, f := range h.fields {
		ks[i] = f.Name
	}
	return ks
}

// Values returns the values of all fields, in order, duplicates included.
func (h *Headers) Values() []string {
	vs := make([]string, len(h.fields))
	for i, f := range h.fields {
		vs[i] = f.Value
	}
	return vs
}

// Fields returns a copy of the fields, in order.
func (h *Headers) Fields() []Field {
	return append([]Field(nil), h.fields...)
}

// String returns the header block as it goes on the wire: "Name: value\r\n"
// for each field, then "\r\n". Empty Headers give "\r\n".
func (h *Headers) String() string {
	var b strings.Builder
	for _, f := range h.fields {
		b.WriteString(f.Name)
		b.WriteString(": ")
		b.WriteString(f.Value)
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// WriteTo writes the bytes of String to w.
func (h *Headers) WriteTo(w io.Writer) (int64, error) {
	n, err := io.WriteString(w, h.String())
	return int64(n), err
}

// filter keeps the fields for which keep returns true, in order.
func (h *Headers) filter(keep func(Field) bool) {
	kept := h.fields[:0]
	for _, f := range h.fields {
		if keep(f) {
			kept = append(kept, f)
		}
	}
	clear(h.fields[len(kept):])
	h.fields = kept
}

func checkField(name, value string) error {
	if err := checkName(name); err != nil {
		return err
	}
	return checkValue(value)
}

// checkName rejects names holding [\x00-\x1F\x7F] (wsgiref's 2026 rule) or
// ':'.
func checkName(name string) error {
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c == 0x7F || c == ':' {
			return fmt.Errorf("%w: name %q", ErrControlChar, name)
		}
	}
	return nil
}

// checkValue rejects values holding [\x00-\x08\x0A-\x1F\x7F]: control
// characters except HTAB.
func checkValue(value string) error {
	if badValue(value) {
		return fmt.Errorf("%w: value %q", ErrControlChar, value)
	}
	return nil
}

func badValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7F {
			return true
		}
	}
	return false
}

// equalFold reports whether a and b are equal ignoring ASCII case. Bytes from
// 0x80 up must match exactly: header names are bytes, not text.
func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
