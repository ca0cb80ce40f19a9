// Package layout holds tests of the repository's structure: which packages
// may import what (the tables of rules_test.go), and that every package
// says what it is for.
package layout
