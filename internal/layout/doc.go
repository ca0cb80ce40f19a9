// Package layout holds tests of the repository's structure: which packages
// may import what, and that every package says what it is for.
package layout
