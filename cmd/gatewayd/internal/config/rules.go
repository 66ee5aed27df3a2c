package config

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"gatewayd/handler"
	"gatewayd/handler/subprocess"
	"gatewayd/handler/worker"
)

// This file holds every default and every rule of the file.

// DefaultLogLevel, DefaultLogFormat and DefaultAccessLog are the log
// block's defaults, those of --log-level and --log-format. Every other
// default is its package's own Default constant (handler, subprocess).
const (
	DefaultLogLevel  = "info"
	DefaultLogFormat = "text"
	DefaultAccessLog = true
)

// maxCount bounds max_children, max_queue and a worker's processes: no
// machine runs or queues more, and sums of them cannot overflow an int.
const maxCount = 1 << 24

// protocols are listen's labels.
var protocols = []string{"http", "fastcgi", "scgi"}

// logLevels are log.level's values.
var logLevels = []string{"trace", "debug", "info", "warn", "error"}

func defaultLog() Log {
	return Log{Level: DefaultLogLevel, Format: DefaultLogFormat, Access: DefaultAccessLog}
}

func defaultPassEnv() []string { return []string{"PATH"} }

// defaultProcesses is the default of a worker's processes: one per CPU.
func defaultProcesses() int { return min(worker.DefaultProcesses(), maxCount) }

// DefaultLimits returns the limits of a file without limits blocks, those
// of the command line without limit flags.
func DefaultLimits() Limits { return limitsLayer{}.resolve() }

// limitsLayer is one limits block: nil for what it leaves out.
type limitsLayer struct {
	timeout, headerTimeout, idleTimeout, killGrace, queueTimeout *time.Duration
	maxChildren, maxQueue                                        *int
	maxBody                                                      *int64
}

// over returns l with the keys it leaves out taken from base.
func (l limitsLayer) over(base limitsLayer) limitsLayer {
	l.timeout = firstSet(l.timeout, base.timeout)
	l.headerTimeout = firstSet(l.headerTimeout, base.headerTimeout)
	l.idleTimeout = firstSet(l.idleTimeout, base.idleTimeout)
	l.killGrace = firstSet(l.killGrace, base.killGrace)
	l.queueTimeout = firstSet(l.queueTimeout, base.queueTimeout)
	l.maxChildren = firstSet(l.maxChildren, base.maxChildren)
	l.maxQueue = firstSet(l.maxQueue, base.maxQueue)
	l.maxBody = firstSet(l.maxBody, base.maxBody)
	return l
}

func firstSet[T any](a, b *T) *T {
	if a != nil {
		return a
	}
	return b
}

// resolve fills in the defaults of what l leaves out.
func (l limitsLayer) resolve() Limits {
	timeout := valueOr(l.timeout, handler.DefaultTimeout)
	children := valueOr(l.maxChildren, min(subprocess.DefaultMaxChildren(), maxCount))
	return Limits{
		Timeout:       timeout,
		HeaderTimeout: valueOr(l.headerTimeout, timeout),
		IdleTimeout:   valueOr(l.idleTimeout, timeout),
		KillGrace:     valueOr(l.killGrace, subprocess.DefaultKillGrace),
		QueueTimeout:  valueOr(l.queueTimeout, subprocess.DefaultQueueTimeout),
		MaxChildren:   children,
		MaxQueue:      valueOr(l.maxQueue, min(subprocess.DefaultQueuePerChild*children, maxCount)),
		MaxBody:       valueOr(l.maxBody, int64(handler.DefaultMaxBody)),
	}
}

func valueOr[T any](p *T, def T) T {
	if p != nil {
		return *p
	}
	return def
}

// config checks the decoded file and builds its Config.
func (p *parser) config(s *fileSchema) *Config {
	c := &Config{Log: defaultLog(), Env: map[string]string{}, PassEnv: defaultPassEnv(), ShutdownTimeout: DefaultShutdownTimeout}

	addrs := map[string]hcl.Range{} // listen address → where it was first given
	for _, l := range s.Listen {
		known := slices.Contains(protocols, l.Protocol)
		if !known {
			p.problem(l.ProtocolRange, "listen %q: unknown protocol (want http, fastcgi or scgi)", l.Protocol)
		}
		if l.Address == nil {
			p.problem(l.DefRange, "listen %q: no address", l.Protocol)
			continue
		}
		addr, ok := p.listenAddress(l.Address)
		if !ok {
			continue
		}
		if first, dup := addrs[addr]; dup {
			p.problem(l.Address.Expr.Range(), "address %q: duplicate listen address (first at line %d)", addr, first.Start.Line)
			continue
		}
		addrs[addr] = l.Address.Expr.Range()
		if known {
			c.Listen = append(c.Listen, Listen{Protocol: l.Protocol, Address: addr})
		}
	}
	if s.Admin != nil && s.Admin.Address == nil {
		p.problem(s.Admin.DefRange, "admin: no address")
	} else if s.Admin != nil {
		if addr, ok := p.listenAddress(s.Admin.Address); ok {
			c.Admin = &Admin{Address: addr}
		}
	}

	if l := s.Log; l != nil {
		if v, ok := p.str(l.Level); ok {
			if !slices.Contains(logLevels, v) {
				p.problem(l.Level.Expr.Range(), "level %q: want trace, debug, info, warn or error", v)
			}
			c.Log.Level = v
		}
		if v, ok := p.str(l.Format); ok {
			if v != "text" && v != "json" {
				p.problem(l.Format.Expr.Range(), "format %q: want text or json", v)
			}
			c.Log.Format = v
		}
		if v, ok := p.boolean(l.Access); ok {
			c.Log.Access = v
		}
	}

	if d := p.duration(s.ShutdownTimeout); d != nil {
		c.ShutdownTimeout = *d
	}
	top := p.limits(s.Limits)
	c.Limits = top.resolve()
	if env, ok := p.env(s.Env); ok {
		c.Env = env
	}
	if names, ok := p.strList(s.PassEnv); ok {
		for _, n := range names {
			if !p.envName(s.PassEnv, n) {
				continue
			}
			if !slices.Contains(c.PassEnv, n) {
				c.PassEnv = append(c.PassEnv, n)
			}
		}
	}

	prefixes := map[string]hcl.Range{} // mount prefix → where it was first given
	for i := range s.Mounts {
		m := &s.Mounts[i]
		if msg := checkPrefix(m.Prefix); msg != "" {
			p.problem(m.PrefixRange, "mount %q: %s", m.Prefix, msg)
		} else if first, dup := prefixes[m.Prefix]; dup {
			p.problem(m.PrefixRange, "mount %q: duplicate prefix (first at line %d)", m.Prefix, first.Start.Line)
		} else {
			prefixes[m.Prefix] = m.PrefixRange
		}
		c.Mounts = append(c.Mounts, p.mount(m, c, top))
	}
	return c
}

// mount checks one mount block; c holds the top-level settings.
func (p *parser) mount(m *mountSchema, c *Config, top limitsLayer) Mount {
	mount := Mount{
		Prefix:  m.Prefix,
		Env:     maps.Clone(c.Env),
		PassEnv: slices.Clone(c.PassEnv),
		Limits:  p.limits(m.Limits).over(top).resolve(),
	}
	if env, ok := p.env(m.Env); ok {
		maps.Copy(mount.Env, env)
	}

	// What the mount is: exactly one of these, or a worker with a root.
	type kind struct {
		name string
		at   hcl.Range
	}
	var kinds []kind
	for _, a := range []*hcl.Attribute{m.Root, m.Program, m.FastCGI} {
		if a != nil {
			kinds = append(kinds, kind{a.Name, a.NameRange})
		}
	}
	if m.Worker != nil {
		kinds = append(kinds, kind{"worker", m.Worker.DefRange})
	}
	slices.SortFunc(kinds, func(a, b kind) int { return a.at.Start.Byte - b.at.Start.Byte })
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = k.name
	}
	switch {
	case len(kinds) == 0:
		p.problem(m.DefRange, "mount %q: give one of root, program, worker or fastcgi", m.Prefix)
	case len(kinds) == 2 && m.Worker != nil && m.Root != nil:
		// a worker with its script root
	case len(kinds) > 1:
		p.problem(kinds[1].at, "mount %q: give one of root, program, worker or fastcgi, not %s",
			m.Prefix, joinAnd(names))
	}

	if v, ok := p.boolean(m.StreamUnknownLength); ok {
		mount.StreamUnknownLength = v
	}
	if root, ok := p.str(m.Root); ok && p.root(m.Root, root) {
		mount.Root = filepath.Clean(root)
	}
	if prog, ok := p.program(m.Program); ok {
		mount.Program = prog
	}
	if w := m.Worker; w != nil {
		if w.Command == nil {
			p.problem(w.DefRange, "worker: no command")
		}
		cmd, _ := p.program(w.Command)
		mount.Worker = &Worker{Command: cmd, Processes: defaultProcesses()}
		if n := p.positiveCount(w.Processes); n != nil {
			mount.Worker.Processes = *n
		}
		if n, ok := p.count(w.MaxRequests); ok && n < 0 {
			p.problem(w.MaxRequests.Expr.Range(), "max_requests %d: must not be negative (0 is never)", n)
		} else if ok {
			mount.Worker.MaxRequests = n
		}
		if n := p.size(w.MaxRSS); n != nil {
			mount.Worker.MaxRSS = *n
		}
	}
	if m.FastCGI != nil {
		if addr, ok := p.str(m.FastCGI); ok {
			if msg := checkDialAddress(addr); msg != "" {
				p.problem(m.FastCGI.Expr.Range(), "fastcgi %q: %s", addr, msg)
			} else {
				mount.FastCGI = addr
			}
		}
	}
	return mount
}

func joinAnd(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// limits checks a limits block.
func (p *parser) limits(b *limitsSchema) limitsLayer {
	var l limitsLayer
	if b == nil {
		return l
	}
	l.timeout = p.duration(b.Timeout)
	l.headerTimeout = p.duration(b.HeaderTimeout)
	l.idleTimeout = p.duration(b.IdleTimeout)
	l.killGrace = p.duration(b.KillGrace)
	l.queueTimeout = p.duration(b.QueueTimeout)
	l.maxChildren = p.positiveCount(b.MaxChildren)
	l.maxQueue = p.positiveCount(b.MaxQueue)
	l.maxBody = p.size(b.MaxBody)
	return l
}

// checkPrefix says what is wrong with a mount prefix, or "".
func checkPrefix(s string) string {
	switch {
	case s == "/":
		return ""
	case !strings.HasPrefix(s, "/"):
		return "prefix must start with '/'"
	case strings.HasSuffix(s, "/"):
		return "prefix must not end with '/'"
	}
	for seg := range strings.SplitSeq(s[1:], "/") {
		if seg == "" || seg == "." || seg == ".." {
			return `prefix must not have an empty, "." or ".." segment`
		}
	}
	return ""
}

// listenAddress reads a listening address.
func (p *parser) listenAddress(a *hcl.Attribute) (string, bool) {
	addr, ok := p.str(a)
	if !ok {
		return "", false
	}
	if msg := checkListenAddress(addr); msg != "" {
		p.problem(a.Expr.Range(), "%s %q: %s", a.Name, addr, msg)
		return "", false
	}
	return addr, true
}

// checkListenAddress says what is wrong with a listening ADDR, or "".
func checkListenAddress(addr string) string {
	if fd, ok := strings.CutPrefix(addr, "fd:"); ok {
		if n, err := strconv.Atoi(fd); err != nil || n < 0 || fd != strconv.Itoa(n) {
			return "want a descriptor number after fd:"
		}
		return ""
	}
	if addr == "systemd" {
		return ""
	}
	if name, ok := strings.CutPrefix(addr, "systemd:"); ok {
		// systemd's FileDescriptorName: up to 255 printable ASCII
		// characters other than ':'.
		if name == "" || len(name) > 255 || strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r > '~' || r == ':' }) {
			return "want a socket name (FileDescriptorName) after systemd:"
		}
		return ""
	}
	return checkSocketAddress(addr, "HOST:PORT, unix:PATH, fd:N, systemd or systemd:NAME")
}

// checkDialAddress says what is wrong with the address of a server to
// connect to, HOST:PORT or unix:PATH, or "".
func checkDialAddress(addr string) string {
	return checkSocketAddress(addr, "HOST:PORT or unix:PATH")
}

// checkSocketAddress says what is wrong with a HOST:PORT or unix:PATH
// address, or ""; forms are the forms the address may take.
func checkSocketAddress(addr, forms string) string {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		if !filepath.IsAbs(path) || strings.ContainsRune(path, 0) {
			return "want an absolute path after unix:"
		}
		return ""
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || strings.ContainsFunc(host, func(r rune) bool { return r <= ' ' }) {
		return "want " + forms
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 || port != strconv.Itoa(n) {
		return "port must be a number from 0 to 65535"
	}
	return ""
}

// root checks a script root.
func (p *parser) root(a *hcl.Attribute, root string) bool {
	if !filepath.IsAbs(root) {
		p.problem(a.Expr.Range(), "root %q: must be an absolute path", root)
		return false
	}
	fi, err := os.Stat(root)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		p.problem(a.Expr.Range(), "root %q: no such directory", root)
	case err != nil:
		p.problem(a.Expr.Range(), "root %q: %v", root, unwrapPath(err))
	case !fi.IsDir():
		p.problem(a.Expr.Range(), "root %q: not a directory", root)
	default:
		return true
	}
	return false
}

// program reads a program and its arguments (program, or a worker's
// command).
func (p *parser) program(a *hcl.Attribute) ([]string, bool) {
	argv, ok := p.strList(a)
	if !ok {
		return nil, false
	}
	if len(argv) == 0 {
		p.problem(a.Expr.Range(), "%s: want the program's path and its arguments, such as [\"/usr/lib/cgi-bin/app\"]", a.Name)
		return nil, false
	}
	for i, arg := range argv {
		if strings.ContainsRune(arg, 0) {
			p.problem(a.Expr.Range(), "%s: element %d holds a NUL byte", a.Name, i+1)
			return nil, false
		}
	}
	path := argv[0]
	if !filepath.IsAbs(path) {
		p.problem(a.Expr.Range(), "%s %q: must be an absolute path", a.Name, path)
		return nil, false
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		p.problem(a.Expr.Range(), "%s %q: no such file", a.Name, path)
	case err != nil:
		p.problem(a.Expr.Range(), "%s %q: %v", a.Name, path, unwrapPath(err))
	case !fi.Mode().IsRegular():
		p.problem(a.Expr.Range(), "%s %q: not a regular file", a.Name, path)
	case !executable(fi):
		p.problem(a.Expr.Range(), "%s %q: not executable", a.Name, path)
	default:
		return argv, true
	}
	return nil, false
}

// unwrapPath drops the path from a *fs.PathError, which the message gives
// already.
func unwrapPath(err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err
	}
	return err
}

// env reads a map of variables.
func (p *parser) env(a *hcl.Attribute) (map[string]string, bool) {
	m, ok := p.strMap(a)
	if !ok {
		return nil, false
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !p.envName(a, k) {
			return nil, false
		}
		if strings.ContainsRune(m[k], 0) {
			p.problem(a.Expr.Range(), "%s: the value of %q holds a NUL byte", a.Name, k)
			return nil, false
		}
	}
	return m, true
}

// envName checks a variable name given in a.
func (p *parser) envName(a *hcl.Attribute, name string) bool {
	if name == "" || strings.ContainsAny(name, "=\x00") {
		p.problem(a.Expr.Range(), "%s: %q is not a variable name", a.Name, name)
		return false
	}
	return true
}

// duration reads a positive Go duration.
func (p *parser) duration(a *hcl.Attribute) *time.Duration {
	s, ok := p.str(a)
	if !ok {
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		p.problem(a.Expr.Range(), "%s %q: want a duration such as \"30s\", \"1m30s\" or \"500ms\"", a.Name, s)
		return nil
	}
	if d <= 0 {
		p.problem(a.Expr.Range(), "%s %q: must be positive", a.Name, s)
		return nil
	}
	return &d
}

// sizeUnits are the suffixes of sizes.
var sizeUnits = []struct {
	suffix string
	shift  uint
}{{"KiB", 10}, {"MiB", 20}, {"GiB", 30}}

// size reads a positive size: bytes, or KiB, MiB or GiB.
func (p *parser) size(a *hcl.Attribute) *int64 {
	s, ok := p.str(a)
	if !ok {
		return nil
	}
	n, err := parseSize(s)
	if err != nil {
		p.problem(a.Expr.Range(), "%s %q: want a whole number of bytes, or of KiB, MiB or GiB, such as \"1GiB\"", a.Name, s)
		return nil
	}
	if n <= 0 {
		p.problem(a.Expr.Range(), "%s %q: must be positive", a.Name, s)
		return nil
	}
	return &n
}

var errSize = errors.New("config: bad size")

// parseSize parses a number of bytes with an optional KiB, MiB or GiB
// suffix.
func parseSize(s string) (int64, error) {
	digits, shift := s, uint(0)
	for _, u := range sizeUnits {
		if d, ok := strings.CutSuffix(s, u.suffix); ok {
			digits, shift = d, u.shift
			break
		}
	}
	if digits == "" || strings.ContainsFunc(digits, func(r rune) bool { return r < '0' || r > '9' }) {
		return 0, errSize
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n > math.MaxInt64>>shift {
		return 0, errSize
	}
	return n << shift, nil
}

// positiveCount reads a positive count of at most maxCount.
func (p *parser) positiveCount(a *hcl.Attribute) *int {
	n, ok := p.count(a)
	if !ok {
		return nil
	}
	if n <= 0 {
		p.problem(a.Expr.Range(), "%s %d: must be positive", a.Name, n)
		return nil
	}
	if n > maxCount {
		p.problem(a.Expr.Range(), "%s %d: must be at most %d", a.Name, n, maxCount)
		return nil
	}
	return &n
}

// The readers of values: each reports a value of the wrong type and
// returns false for it and for an attribute that is absent or null.

// value evaluates a and converts it to ty.
func (p *parser) value(a *hcl.Attribute, ty cty.Type, want string) (cty.Value, bool) {
	if a == nil {
		return cty.NilVal, false
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		p.diags(diags)
		return cty.NilVal, false
	}
	if v.IsNull() {
		return cty.NilVal, false
	}
	if ty != cty.Number && ty != cty.Bool {
		v = numbersAsText(v)
	}
	v, err := convert.Convert(v, ty)
	if err != nil || !v.IsWhollyKnown() {
		p.problem(a.Expr.Range(), "%s: want %s", a.Name, want)
		return cty.NilVal, false
	}
	return v, true
}

func (p *parser) str(a *hcl.Attribute) (string, bool) {
	v, ok := p.value(a, cty.String, "a string")
	if !ok {
		return "", false
	}
	return v.AsString(), true
}

func (p *parser) boolean(a *hcl.Attribute) (bool, bool) {
	v, ok := p.value(a, cty.Bool, "true or false")
	if !ok {
		return false, false
	}
	return v.True(), true
}

// count reads a whole number (of any sign) that fits an int32.
func (p *parser) count(a *hcl.Attribute) (int, bool) {
	v, ok := p.value(a, cty.Number, "a whole number")
	if !ok {
		return 0, false
	}
	f := v.AsBigFloat()
	n, acc := f.Int64()
	if acc != big.Exact || n < math.MinInt32 || n > math.MaxInt32 {
		p.problem(a.Expr.Range(), "%s %s: want a whole number", a.Name, numberText(f))
		return 0, false
	}
	return int(n), true
}

func (p *parser) strList(a *hcl.Attribute) ([]string, bool) {
	const want = `a list of strings, such as ["a", "b"]`
	v, ok := p.value(a, cty.List(cty.String), want)
	if !ok {
		return nil, false
	}
	list := []string{}
	for _, e := range v.AsValueSlice() {
		if e.IsNull() {
			p.problem(a.Expr.Range(), "%s: want %s", a.Name, want)
			return nil, false
		}
		list = append(list, e.AsString())
	}
	return list, true
}

func (p *parser) strMap(a *hcl.Attribute) (map[string]string, bool) {
	const want = `a map of strings, such as { NAME = "value" }`
	v, ok := p.value(a, cty.Map(cty.String), want)
	if !ok {
		return nil, false
	}
	m := map[string]string{}
	for k, e := range v.AsValueMap() {
		if e.IsNull() {
			p.problem(a.Expr.Range(), "%s: want %s", a.Name, want)
			return nil, false
		}
		m[k] = e.AsString()
	}
	return m, true
}

// numbersAsText turns the numbers in v into strings, as converting v to a
// type of strings would, but with numberText.
func numbersAsText(v cty.Value) cty.Value {
	if v.IsNull() || !v.IsKnown() {
		return v
	}
	ty := v.Type()
	switch {
	case ty == cty.Number:
		return cty.StringVal(numberText(v.AsBigFloat()))
	case ty.IsTupleType():
		if v.LengthInt() == 0 {
			return v
		}
		elems := v.AsValueSlice()
		for i, e := range elems {
			elems[i] = numbersAsText(e)
		}
		return cty.TupleVal(elems)
	case ty.IsObjectType():
		if v.LengthInt() == 0 {
			return v
		}
		attrs := v.AsValueMap()
		for k, e := range attrs {
			attrs[k] = numbersAsText(e)
		}
		return cty.ObjectVal(attrs)
	}
	return v
}

// numberText writes f out in full, as cty does, when that takes at most
// some 40 digits before or after the point, and as an approximate
// 1.234e+56 otherwise: 1e10000000 in full would take seconds and ten
// megabytes.
func numberText(f *big.Float) string {
	mant := new(big.Float)
	exp := f.MantExp(mant) // f = mant × 2**exp, 0.5 <= |mant| < 1
	if f.Sign() == 0 || (exp >= -128 && exp <= 128) {
		return f.Text('f', -1)
	}
	m, _ := mant.Float64()
	d := float64(exp)*math.Log10(2) + math.Log10(math.Abs(m))
	e := math.Floor(d)
	digits := math.Pow(10, d-e)
	if digits >= 9.9995 {
		digits, e = digits/10, e+1
	}
	return fmt.Sprintf("%.3fe%+d", math.Copysign(digits, m), int64(e))
}
