package keepalived

import (
	"strings"

	"golvs/internal/config"
)

// node is a keyword line and, when a { follows it, the block it opens.
type node struct {
	pos      config.Pos
	words    []string
	block    []*node
	hasBlock bool
}

func (n *node) keyword() string { return n.words[0] }

// args returns the words after the keyword.
func (n *node) args() []string { return n.words[1:] }

func (n *node) String() string { return strings.Join(n.words, " ") }

// build nests statements into blocks: a "{" opens a block for the line
// before it (on the same line or the next, as keepalived allows), a "}"
// closes the innermost block.
func build(stmts []stmt, errs *config.ErrorList) []*node {
	type frame struct {
		owner *node
		nodes *[]*node
	}
	var root []*node
	stack := []frame{{nodes: &root}}
	var last *node // the line just before, if it can still open a block
	for _, s := range stmts {
		top := &stack[len(stack)-1]
		switch s.words[0] {
		case "{":
			if last == nil || last.hasBlock {
				errs.Add(s.pos, "", "unexpected '{' without a keyword before it")
				// Read the block anyway so that its '}' matches.
				last = &node{pos: s.pos, words: []string{"{"}}
			}
			last.hasBlock = true
			stack = append(stack, frame{owner: last, nodes: &last.block})
			last = nil
		case "}":
			if len(stack) == 1 {
				errs.Add(s.pos, "", "unexpected '}': no block is open")
				continue
			}
			stack = stack[:len(stack)-1]
			last = nil
		default:
			n := &node{pos: s.pos, words: s.words}
			*top.nodes = append(*top.nodes, n)
			last = n
		}
	}
	for _, f := range stack[1:] {
		errs.Add(f.owner.pos, f.owner.keyword(), "block opened here has no closing '}'")
	}
	return root
}
