package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Error is a configuration error at a place in a file.
type Error struct {
	Pos Pos
	// Field is what the error is about: a field path in a golvs YAML file
	// ("services[1].reals[0].weight"), a keyword in keepalived.conf; it may
	// be empty.
	Field string
	Err   error
}

// Error returns "file:line: field: message".
func (e *Error) Error() string {
	var b strings.Builder
	if p := e.Pos.String(); p != "" {
		b.WriteString(p)
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// maxErrors bounds how many errors an ErrorList prints: past the first
// few, more of the same help nobody.
const maxErrors = 20

// ErrorList is every error found in a configuration, in file order.
type ErrorList []*Error

// Add appends an error about field at pos.
func (l *ErrorList) Add(pos Pos, field string, format string, args ...any) {
	*l = append(*l, &Error{Pos: pos, Field: field, Err: fmt.Errorf(format, args...)})
}

// AddErr appends err about field at pos.
func (l *ErrorList) AddErr(pos Pos, field string, err error) {
	*l = append(*l, &Error{Pos: pos, Field: field, Err: err})
}

// Error prints one error a line.
func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i == maxErrors {
			fmt.Fprintf(&b, "\n(and %d more errors)", len(l)-maxErrors)
			break
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap returns the errors, for errors.Is and errors.As.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// Err returns nil for an empty list, else the list sorted by position:
// by line within a file, files in the order they first appear (the order
// they were read in, for included files).
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	SortByPos(l, func(e *Error) Pos { return e.Pos })
	return l
}

// SortByPos sorts list stably by line within a file, keeping files in
// the order they first appear in list.
func SortByPos[T any](list []T, pos func(T) Pos) {
	order := map[string]int{}
	for _, x := range list {
		if _, ok := order[pos(x).File]; !ok {
			order[pos(x).File] = len(order)
		}
	}
	slices.SortStableFunc(list, func(a, b T) int {
		pa, pb := pos(a), pos(b)
		return cmp.Or(cmp.Compare(order[pa.File], order[pb.File]), cmp.Compare(pa.Line, pb.Line))
	})
}
