package ipvsadm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"golvs/internal/lvs"
)

// restore is ipvsadm -R: it reads commands from standard input, one per
// line, tokenized as ipvsadm's config_stream_read does and parsed by the
// same code as the command line (with argv[0] = prog).
//
// Unlike ipvsadm, which carries out each line as it reads it (a bad line
// stops the restore with the earlier lines applied; a refused one is
// reported and the restore goes on), lvsadm parses every line first and
// sends all the changes in one Apply call, which lvsd makes all or none of:
// a bad line or a refused change leaves the table as it was. Every error
// names its line: "line N: " followed by what that line would print on the
// command line, with the exit status it would have there (2 or 255), or, for
// a change lvsd refused, ipvsadm's kernel message for that command (255).
func (c *cli) restore(ctx context.Context, prog string) int {
	input, err := io.ReadAll(c.stdin)
	if err != nil {
		fmt.Fprintf(c.stderr, "read standard input: %v\n", err)
		return 2
	}
	// About a change a line.
	n := bytes.Count(input, []byte{'\n'}) + 1
	var (
		changes = make([]lvs.Change, 0, n)
		lines   = make([]int, 0, n) // lines[i] is the line of changes[i]
		cmds    = make([]command, 0, n)
		failed  error
	)
	eachConfigLine(input, func(number int, words []string) bool {
		argv := append([]string{prog}, words...)
		r, err := parseArgs(argv, c.names)
		if err == nil {
			err = restoreCheck(r, prog)
		}
		if err != nil {
			failed = atLine(number, err)
			return false
		}
		ch, _ := r.change()
		changes = append(changes, ch)
		lines = append(lines, number)
		cmds = append(cmds, r.cmd)
		return true
	})
	if failed != nil {
		return c.exit(failed)
	}
	// The call's time budget starts now, not while an operator types.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), callTimeout)
	defer cancel()
	// Sent even when there is nothing to change, so that a restore
	// without lvsd fails as ipvsadm's fails without IPVS.
	err = c.d.Apply(ctx, changes)
	if err == nil {
		return 0
	}
	if status, ok := c.unreachable(err); ok {
		return status
	}
	var ce *lvs.ChangeError
	if errors.As(err, &ce) && ce.Index >= 0 && ce.Index < len(changes) {
		fmt.Fprintf(c.stderr, "line %d: %s\n", lines[ce.Index], errorMessage(cmds[ce.Index], ce.Err))
		return 255
	}
	fmt.Fprintln(c.stderr, errorMessage(cmdRestore, err))
	return 255
}

// restoreCheck refuses, in restored input, what the command line accepts
// but a batch cannot hold: -R itself (as ipvsadm does, to avoid a loop),
// what golvs does not build, and the commands that change nothing (-L, -S,
// -h, -v), which ipvsadm would carry out in the middle of its restore.
func restoreCheck(r *request, prog string) error {
	if r.cmd == cmdRestore {
		return tryHelp(prog)
	}
	if err := r.refusal(prog); err != nil {
		return err
	}
	if _, ok := r.change(); ok && !r.help && !r.version {
		return nil
	}
	name := "-h (--help)"
	switch {
	case r.version:
		name = "-v (--version)"
	case r.cmd == cmdList:
		name = "-L (--list)"
	case r.cmd == cmdSave:
		name = "-S (--save)"
	}
	return &exitError{status: 2, msg: fmt.Sprintf("%s: %s cannot be restored: -R only changes the table, all lines at once", filepath.Base(prog), name)}
}

// atLine prefixes an error's message with its line of restored input.
func atLine(n int, err error) error {
	var e *exitError
	if !errors.As(err, &e) {
		return &exitError{status: 2, msg: fmt.Sprintf("line %d: %v", n, err)}
	}
	return &exitError{status: e.status, msg: fmt.Sprintf("line %d: %s", n, e.msg)}
}

// configLine is one command of restored input: its words and the line
// (from 1) they are on.
type configLine struct {
	number int
	words  []string
}

// maxToken is config_stream.h's MAX_LINE_LENGTH, the longest word fscanf
// reads at once; a longer one is split.
const maxToken = 4096

// configStreamLines splits restored input into commands exactly as
// ipvsadm's config_stream_read (with restore_table) does:
//   - words are separated by space, tab, CR; a newline ends the command;
//   - a word that is exactly "ipvsadm" is dropped, wherever it is;
//   - lines with no word left are skipped;
//   - "#" is NOT a comment: config_stream_read's comment test looks at the
//     delimiter after a word, which is never '#', so "# x" is a command
//     (that fails: its first word is not an option). The ipvsadm-restore
//     script strips '#' lines before ipvsadm -R sees them; lvsadm -R, like
//     ipvsadm -R, does not;
//   - at end of input without a final newline, the last line counts only if
//     it does not end in two or more blanks: config_stream_read gives up
//     (returns NULL) when it meets end of input while skipping blanks, and
//     that drops the words it had read on that line;
//   - a word stops at a NUL byte, as the C string it is read into does.
func configStreamLines(in []byte) []configLine {
	var out []configLine
	eachConfigLine(in, func(number int, words []string) bool {
		out = append(out, configLine{number: number, words: slices.Clone(words)})
		return true
	})
	return out
}

// eachConfigLine calls yield with each command of in, as configStreamLines
// splits them, until yield returns false. words is only good until yield
// returns: a restore of 100,000 lines that kept every line's words spent
// more time allocating and collecting them than parsing them.
func eachConfigLine(in []byte, yield func(number int, words []string) bool) {
	isBlank := func(c byte) bool { return c == ' ' || c == '\t' || c == '\r' }
	// Words are cut from one string, not copied each.
	text := string(in)
	nul := strings.IndexByte(text, 0) >= 0
	var words []string
	pos, line := 0, 1
	for {
		words = words[:0]
		// emit yields the line's words, if any; stop says yield said
		// to stop.
		stop := false
		emit := func() {
			if len(words) > 0 && !yield(line, words) {
				stop = true
			}
		}
	call:
		for {
			if pos >= len(in) {
				// fscanf returns EOF: the line counts if it has words.
				emit()
				return
			}
			if c := in[pos]; isBlank(c) || c == '\n' {
				// The word conversion fails; skip blanks up to a newline.
				for {
					if pos >= len(in) {
						return
					}
					c := in[pos]
					pos++
					if c == '\n' {
						emit()
						line++
						break call
					}
					if !isBlank(c) {
						pos--
						break
					}
				}
				continue
			}
			start := pos
			for pos < len(in) && pos-start < maxToken && !isBlank(in[pos]) && in[pos] != '\n' {
				pos++
			}
			word := text[start:pos]
			if nul {
				if i := strings.IndexByte(word, 0); i >= 0 {
					word = word[:i]
				}
			}
			if word != "ipvsadm" {
				words = append(words, word)
			}
			if pos < len(in) && (isBlank(in[pos]) || in[pos] == '\n') {
				tail := in[pos]
				pos++
				if tail == '\n' {
					emit()
					line++
					break call
				}
			}
		}
		if stop {
			return
		}
	}
}
