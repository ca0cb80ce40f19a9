package keepalived

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golvs/internal/config"
)

// stmt is one logical line of keepalived.conf split into words, or a
// lone "{" or "}": keepalived's read_line cuts a line before and after
// every brace that is not inside quotes, so blocks may open and close
// anywhere on a line.
type stmt struct {
	pos   config.Pos
	words []string
}

// definition is a $NAME=value definition; a multi-line one (the first
// line ended with a backslash) expands to several lines and may only
// stand alone on a line.
type definition struct {
	value     string
	multiline bool
	fn        func(params []string) string // a standard definition: _PWD, _INSTANCE, _RANDOM
}

// maxIncludeDepth bounds include nesting: keepalived has no bound and
// loops forever on a file that includes itself.
const maxIncludeDepth = 32

// maxSubstitutions bounds $NAME expansion on one line ($A=$A).
const maxSubstitutions = 100

// lexer turns files into statements the way keepalived's lib/parser.c
// reads them.
type lexer struct {
	opts  Options
	defs  map[string]*definition
	stmts []stmt
	errs  *config.ErrorList
	warns *[]Warning
	depth int
	dir   string   // directory of the file being read, for _PWD
	files []string // every file read, in order
}

func newLexer(opts Options, errs *config.ErrorList, warns *[]Warning) *lexer {
	lx := &lexer{opts: opts, defs: map[string]*definition{}, errs: errs, warns: warns}
	lx.defs["_PWD"] = &definition{fn: func([]string) string { return lx.dir }}
	lx.defs["_INSTANCE"] = &definition{fn: func([]string) string { return lx.opts.ConfigID }}
	lx.defs["_RANDOM"] = &definition{fn: func(p []string) string {
		lo, hi := 0, 32767
		if len(p) > 0 {
			lo, _ = strconv.Atoi(p[0])
		}
		if len(p) > 1 {
			hi, _ = strconv.Atoi(p[1])
		}
		if hi < lo {
			hi = lo
		}
		return strconv.Itoa(lo + rand.IntN(hi-lo+1))
	}}
	return lx
}

func (lx *lexer) errorf(pos config.Pos, field, format string, args ...any) {
	lx.errs.Add(pos, field, format, args...)
}

func (lx *lexer) warnf(pos config.Pos, format string, args ...any) {
	*lx.warns = append(*lx.warns, Warning{Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

// readFile reads one configuration file.
func (lx *lexer) readFile(path string, from config.Pos) {
	data, err := os.ReadFile(path)
	if err != nil {
		lx.errorf(from, "include", "%v", err)
		return
	}
	lx.files = append(lx.files, path)
	prevDir := lx.dir
	if abs, err := filepath.Abs(filepath.Dir(path)); err == nil {
		lx.dir = abs
	}
	defer func() { lx.dir = prevDir }()

	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	var multi *definition // a multi-line definition being read
	for i := 0; i < len(lines); i++ {
		pos := config.Pos{File: path, Line: i + 1}
		text, cont := decomment(lines[i])
		if multi != nil {
			// Lines of a multi-line definition end with a backslash
			// until the last one; a blank line ends it too.
			if text != "" {
				multi.value += "\n" + text
			}
			if !cont || text == "" {
				multi = nil
			}
			continue
		}
		if text == "" {
			continue
		}
		// A backslash at the end of a line that is not a definition
		// joins it with the next line.
		if cont && !isDefinition(text) {
			for cont && i+1 < len(lines) {
				i++
				var next string
				next, cont = decomment(lines[i])
				text += " " + next
			}
		}
		if d := lx.define(text, cont); d != nil {
			if d.multiline {
				multi = d
			}
			continue
		}
		lx.line(text, pos, 0)
	}
}

// isDefinition reports whether text is a $NAME=... definition.
func isDefinition(text string) bool {
	name, ok := defName(text)
	return ok && name != ""
}

// defName returns the NAME of a "$NAME = value" line.
func defName(text string) (string, bool) {
	if len(text) < 2 || text[0] != '$' || !isNameStart(text[1]) {
		return "", false
	}
	i := 2
	for i < len(text) && isNameChar(text[i]) {
		i++
	}
	rest := strings.TrimLeft(text[i:], " \t")
	if !strings.HasPrefix(rest, "=") {
		return "", false
	}
	return text[1:i], true
}

func isNameStart(c byte) bool { return c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z') }
func isNameChar(c byte) bool  { return isNameStart(c) || (c >= '0' && c <= '9') }

// define records a $NAME=value line (check_definition in parser.c).
func (lx *lexer) define(text string, cont bool) *definition {
	name, ok := defName(text)
	if !ok {
		return nil
	}
	_, value, _ := strings.Cut(text, "=")
	value = strings.TrimLeft(value, " \t")
	d := &definition{value: value, multiline: cont}
	lx.defs[name] = d
	return d
}

// decomment strips leading blanks, a comment (# or ! outside double
// quotes, to the end of the line) and trailing blanks, turns \# and \!
// into # and !, and reports a trailing backslash (removed) as a
// continuation.
func decomment(s string) (string, bool) {
	s = strings.TrimLeft(s, " \t")
	var b strings.Builder
	quote := false
	cont := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			quote = !quote
		case c == '\\':
			if i+1 == len(s) {
				cont = true
				continue
			}
			if !quote && (s[i+1] == '#' || s[i+1] == '!') {
				i++
				c = s[i]
			} else {
				b.WriteByte(c)
				i++
				c = s[i]
			}
		case !quote && (c == '#' || c == '!'):
			return strings.TrimRight(b.String(), " \t\r"), cont
		}
		b.WriteByte(c)
	}
	return strings.TrimRight(b.String(), " \t\r"), cont
}

// line handles one logical line: a conditional @id prefix, ~SEQ,
// definitions used in it, include, and finally its words.
func (lx *lexer) line(text string, pos config.Pos, depth int) {
	if depth > maxSubstitutions {
		lx.errorf(pos, "", "definitions expand into themselves")
		return
	}
	// "@id line" is read only when id is the config id, "@^id line"
	// only when it is not.
	if text[0] == '@' {
		neg := strings.HasPrefix(text, "@^")
		idStart := 1
		if neg {
			idStart = 2
		}
		sp := strings.IndexAny(text, " \t")
		if sp < 0 {
			return
		}
		if (text[idStart:sp] == lx.opts.ConfigID) == neg {
			return
		}
		text = strings.TrimLeft(text[sp:], " \t")
		if text == "" {
			return
		}
	}
	if d := lx.define(text, false); d != nil {
		return
	}
	if strings.HasPrefix(text, "~SEQ") {
		lx.seq(text, pos, depth)
		return
	}
	if strings.Contains(text, "$") {
		expanded, multi, changed := lx.substitute(text, pos)
		if multi != nil {
			for _, l := range strings.Split(multi.value, "\n") {
				if l = strings.TrimSpace(l); l != "" {
					lx.line(l, pos, depth+1)
				}
			}
			return
		}
		if changed {
			lx.line(expanded, pos, depth+1)
			return
		}
		if expanded == "" {
			return // a refused multi-line definition, already reported
		}
	}
	// keepalived looks for include before it cuts the line at braces,
	// so a pattern may hold {a,b} alternatives.
	if f := strings.Fields(text); len(f) == 2 && f[0] == "include" {
		lx.include(strings.Trim(f[1], `"`), pos)
		return
	}
	words, err := split(text)
	if err != nil {
		lx.errorf(pos, "", "%v", err)
		return
	}
	// Cut the words into statements at the braces.
	start := 0
	for i, w := range words {
		if w == "{" || w == "}" {
			if i > start {
				lx.stmts = append(lx.stmts, stmt{pos: pos, words: words[start:i]})
			}
			lx.stmts = append(lx.stmts, stmt{pos: pos, words: []string{w}})
			start = i + 1
		}
	}
	if start < len(words) {
		lx.stmts = append(lx.stmts, stmt{pos: pos, words: words[start:]})
	}
}

// substitute replaces $NAME and ${NAME} (and ${_RANDOM lo hi}) with their
// definitions; a multi-line definition must be the whole line, and is
// returned for the caller to expand line by line.
func (lx *lexer) substitute(text string, pos config.Pos) (string, *definition, bool) {
	var b strings.Builder
	changed := false
	for i := 0; i < len(text); i++ {
		if text[i] != '$' || i+1 == len(text) {
			b.WriteByte(text[i])
			continue
		}
		name, params, end, ok := refAt(text, i)
		d := lx.defs[name]
		if !ok || d == nil {
			b.WriteByte(text[i])
			continue
		}
		if d.multiline {
			if i == 0 && end == len(text) {
				return "", d, true
			}
			lx.errorf(pos, "$"+name, "a multi-line definition must stand alone on its line")
			return "", nil, false
		}
		if d.fn != nil {
			b.WriteString(d.fn(params))
		} else {
			b.WriteString(d.value)
		}
		changed = true
		i = end - 1
	}
	return b.String(), nil, changed
}

// refAt parses a $NAME or ${NAME params} reference at text[i] and returns
// the name, its parameters and the index after it.
func refAt(text string, i int) (name string, params []string, end int, ok bool) {
	j := i + 1
	braces := text[j] == '{'
	if braces {
		j++
	}
	if j >= len(text) || !isNameStart(text[j]) {
		return "", nil, 0, false
	}
	k := j
	for k < len(text) && isNameChar(text[k]) {
		k++
	}
	name = text[j:k]
	if !braces {
		// find_definition: a bare $NAME ends at a blank, ',' or ')'.
		if k < len(text) && !strings.ContainsRune(" \t,)", rune(text[k])) {
			return "", nil, 0, false
		}
		return name, nil, k, true
	}
	close := strings.IndexByte(text[k:], '}')
	if close < 0 {
		return "", nil, 0, false
	}
	params = strings.Fields(text[k : k+close])
	for _, p := range params {
		if _, err := strconv.Atoi(p); err != nil {
			return "", nil, 0, false
		}
	}
	return name, params, k + close + 1, true
}

// seq expands "~SEQ(var, start, step, end) text" (or (var, end), (var,
// start, end)): text is read once for each value with $var set to it;
// ~SEQx gives the values in hex.
func (lx *lexer) seq(text string, pos config.Pos, depth int) {
	rest := strings.TrimPrefix(text, "~SEQ")
	hex := strings.HasPrefix(rest, "x")
	rest = strings.TrimPrefix(rest, "x")
	rest = strings.TrimLeft(rest, " \t")
	open, close := strings.IndexByte(rest, '('), strings.IndexByte(rest, ')')
	if open != 0 || close < 0 {
		lx.errorf(pos, "~SEQ", "expected ~SEQ(var, start, step, end) text")
		return
	}
	args := strings.Split(rest[1:close], ",")
	body := strings.TrimLeft(rest[close+1:], " \t")
	for i := range args {
		args[i] = strings.TrimSpace(args[i])
	}
	if len(args) < 2 || len(args) > 4 || !isDefName(args[0]) {
		lx.errorf(pos, "~SEQ", "expected ~SEQ(var, start, step, end) text")
		return
	}
	nums := make([]int64, len(args)-1)
	for i, a := range args[1:] {
		if s, _, ch := lx.substitute(a, pos); ch {
			a = s
		}
		n, err := strconv.ParseInt(a, 0, 64)
		if err != nil {
			lx.errorf(pos, "~SEQ", "%q is not a number", a)
			return
		}
		nums[i] = n
	}
	var start, step, end int64
	switch len(nums) {
	case 1:
		end = nums[0]
		start, step = 1, 1
		if end < 0 {
			start = -1
		}
		if end < 1 {
			step = -1
		}
	case 2:
		start, end, step = nums[0], nums[1], 1
		if start > end {
			step = -1
		}
	case 3:
		start, step, end = nums[0], nums[1], nums[2]
	}
	if step == 0 || (start < end && step < 0) || (start > end && step > 0) || (hex && (start < 0 || end < 0)) {
		lx.errorf(pos, "~SEQ", "invalid values in %q", text)
		return
	}
	if (end-start)/step > 1<<16 {
		lx.errorf(pos, "~SEQ", "more than %d values in %q", 1<<16, text)
		return
	}
	prev := lx.defs[args[0]]
	for v := start; (step > 0 && v <= end) || (step < 0 && v >= end); v += step {
		val := strconv.FormatInt(v, 10)
		if hex {
			val = strconv.FormatInt(v, 16)
		}
		lx.defs[args[0]] = &definition{value: val}
		if body != "" {
			lx.line(body, pos, depth+1)
		}
	}
	if prev != nil {
		lx.defs[args[0]] = prev
	}
}

func isDefName(s string) bool {
	if s == "" || !isNameStart(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isNameChar(s[i]) {
			return false
		}
	}
	return true
}

// split cuts a line into words as keepalived's alloc_strvec does: blanks
// separate words, a double-quoted string is one word without its
// quotes, and { and } outside quotes are words of their own.
func split(text string) ([]string, error) {
	var words []string
	i := 0
	for {
		for i < len(text) && (text[i] == ' ' || text[i] == '\t') {
			i++
		}
		if i == len(text) {
			return words, nil
		}
		switch c := text[i]; {
		case c == '"':
			end := strings.IndexByte(text[i+1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("unmatched quote in %q", text)
			}
			words = append(words, text[i+1:i+1+end])
			i += end + 2
		case c == '{' || c == '}':
			words = append(words, string(c))
			i++
		default:
			j := i
			for j < len(text) && !strings.ContainsRune(" \t\"{}", rune(text[j])) {
				j++
			}
			words = append(words, text[i:j])
			i = j
		}
	}
}

// include reads the files a pattern names: a glob (with {a,b}
// alternatives) relative to the directory of the including file.
// keepalived skips, with a log line, a pattern that matches nothing and
// files that are directories or executable; golvs warns for those, but
// refuses a plain file name that does not exist, which is a typo that
// would silently drop every service it defines.
func (lx *lexer) include(pattern string, pos config.Pos) {
	if lx.depth >= maxIncludeDepth {
		lx.errorf(pos, "include", "includes nest deeper than %d: does a file include itself?", maxIncludeDepth)
		return
	}
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(filepath.Dir(pos.File), pattern)
	}
	var matches []string
	for _, p := range expandBraces(pattern) {
		m, err := filepath.Glob(p)
		if err != nil {
			lx.errorf(pos, "include", "bad pattern %q: %v", p, err)
			return
		}
		matches = append(matches, m...)
	}
	if len(matches) == 0 {
		if !strings.ContainsAny(pattern, "*?[{") {
			lx.errorf(pos, "include", "%s does not exist", pattern)
		} else {
			lx.warnf(pos, "include %s matches no file", pattern)
		}
		return
	}
	for _, m := range matches {
		fi, err := os.Stat(m)
		switch {
		case err != nil:
			lx.errorf(pos, "include", "%v", err)
			continue
		case fi.IsDir():
			lx.warnf(pos, "include %s: a directory, skipped as keepalived does", m)
			continue
		case !fi.Mode().IsRegular() || fi.Mode()&0o111 != 0:
			lx.warnf(pos, "include %s: not a regular non-executable file, skipped as keepalived does", m)
			continue
		}
		lx.depth++
		lx.readFile(m, pos)
		lx.depth--
	}
}

// expandBraces expands csh-style {a,b} alternatives, as glob's
// GLOB_BRACE does, in order.
func expandBraces(p string) []string {
	depth, open := 0, -1
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '{':
			if depth == 0 {
				open = i
			}
			depth++
		case '}':
			if depth == 0 {
				continue
			}
			depth--
			if depth != 0 {
				continue
			}
			var alts []string
			d, start := 0, open+1
			for j := open + 1; j < i; j++ {
				switch p[j] {
				case '{':
					d++
				case '}':
					d--
				case ',':
					if d == 0 {
						alts = append(alts, p[start:j])
						start = j + 1
					}
				}
			}
			alts = append(alts, p[start:i])
			var out []string
			for _, a := range alts {
				out = append(out, expandBraces(p[:open]+a+p[i+1:])...)
			}
			return out
		}
	}
	return []string{p}
}
