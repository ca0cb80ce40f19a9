// Package keepalived reads the LVS part of keepalived.conf
// (virtual_server, virtual_server_group, real_server and the health
// checkers) into a golvs configuration, with keepalived's syntax,
// defaults and corrections, so that lvsd can run an existing
// keepalived.conf unchanged.
//
// The syntax is keepalived's lib/parser.c: blocks in { }, comments from #
// or ! to the end of the line, double-quoted strings, include with glob
// patterns relative to the including file, $NAME=value definitions (also
// multi-line ones) used as $NAME or ${NAME}, ~SEQ(var, start, step, end)
// lines, and @id / @^id conditional lines. A backslash at the end of any
// other line joins it with the next.
//
// What golvs does not implement is reported, never dropped silently: a
// block such as vrrp_instance once, by name and line; an unknown keyword
// inside a virtual_server, real_server or checker as keepalived does (it
// logs and ignores it). Where keepalived corrects a configuration with a
// log line (a missing protocol becomes UDP, a DR real's port becomes the
// service's, a duplicated real is dropped), Load does the same and
// returns the log line as a warning. Errors (a bad address, a bad number,
// a firewall-mark service, which golvs cannot serve) name file:line and
// the keyword, and no configuration is returned.
package keepalived

import (
	"cmp"
	"fmt"
	"os"
	"slices"
	"strings"

	"golvs/internal/config"
)

// Options change how a file is read.
type Options struct {
	// ConfigID selects the conditional lines: "@id ..." lines are read
	// only when id is ConfigID, "@^id ..." ones only when it is not.
	// keepalived's default, used when ConfigID is "", is the host name
	// up to its first dot (keepalived -i sets it).
	ConfigID string
}

// Warning is something Load read but golvs ignores or corrected, as
// keepalived would log it.
type Warning struct {
	Pos config.Pos
	Msg string
}

// String returns "file:line: message".
func (w Warning) String() string { return w.Pos.String() + ": " + w.Msg }

// Load reads the keepalived.conf at path and every file it includes. It
// returns the configuration and the warnings, or every error found and
// no configuration.
func Load(path string, opts Options) (*config.Config, []Warning, error) {
	if opts.ConfigID == "" {
		host, _ := os.Hostname()
		opts.ConfigID, _, _ = strings.Cut(host, ".")
	}
	p := &parser{groups: map[string]*group{}}
	lx := newLexer(opts, &p.errs, &p.warns)
	if _, err := os.Stat(path); err != nil {
		return nil, nil, fmt.Errorf("read keepalived configuration: %w", err)
	}
	lx.readFile(path, config.Pos{File: path})
	root := build(lx.stmts, &p.errs)
	for _, n := range root {
		p.root(n)
	}
	c := p.finish()
	// Warnings in reading order: the files as they were read, then by line.
	order := map[string]int{}
	for _, f := range lx.files {
		if _, ok := order[f]; !ok {
			order[f] = len(order)
		}
	}
	slices.SortStableFunc(p.warns, func(a, b Warning) int {
		return cmp.Or(cmp.Compare(order[a.Pos.File], order[b.Pos.File]), cmp.Compare(a.Pos.Line, b.Pos.Line))
	})
	if err := p.errs.Err(); err != nil {
		return nil, p.warns, err
	}
	if errs := config.Validate(c, p.where); len(errs) > 0 {
		return nil, p.warns, errs.Err()
	}
	return c, p.warns, nil
}
