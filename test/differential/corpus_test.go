// Package differential compares lvsadm with the real ipvsadm: a corpus of
// command scripts (corpus/*.cmds) was run through ipvsadm 1.31 on Debian's
// 6.1 kernel in a VM (scripts/differential.sh golden, TestRecordGoldens),
// which wrote what each command printed and its exit status to
// testdata/*.golden; TestDifferential runs the same scripts through lvsadm
// against an lvsd and compares byte for byte. The differences golvs keeps
// on purpose are listed in allowList, each with its reason, as in the
// README's compatibility table.
package differential

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golvs/internal/config"
)

// command is one ipvsadm invocation of a scenario.
type command struct {
	line  string   // as written in the corpus, for the golden file
	args  []string // after "ipvsadm"
	stdin string   // for -R: the lines of its here-document
}

// scenario is one corpus file: commands run in order on a table that
// starts empty, with the default timeouts.
type scenario struct {
	name     string
	commands []command
}

// result is what one command printed and its exit status.
type result struct {
	stdout, stderr string
	status         int
}

// loadCorpus reads every corpus/*.cmds file, sorted by name.
func loadCorpus(t testing.TB) []scenario {
	t.Helper()
	files, err := filepath.Glob("corpus/*.cmds")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no corpus/*.cmds files")
	}
	sort.Strings(files)
	var out []scenario
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sc, err := parseScenario(strings.TrimSuffix(filepath.Base(f), ".cmds"), string(data))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, sc)
	}
	return out
}

// parseScenario reads a corpus file. Each line is "ipvsadm" and its
// arguments, split into words as a shell would (config.SplitCommand): a
// word in quotes may hold blanks or be empty. "ipvsadm -R <<EOF" takes the lines up to "EOF" as standard
// input. Blank lines and lines starting with '#' are skipped.
func parseScenario(name, text string) (scenario, error) {
	sc := scenario{name: name}
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		words, err := config.SplitCommand(line)
		if err != nil {
			return sc, fmt.Errorf("line %d: %w", i+1, err)
		}
		if len(words) == 0 || words[0] != "ipvsadm" {
			return sc, fmt.Errorf("line %d: a command starts with ipvsadm", i+1)
		}
		c := command{line: line, args: words[1:]}
		if n := len(c.args); n > 0 && c.args[n-1] == "<<EOF" {
			c.args = c.args[:n-1]
			var in strings.Builder
			for i++; ; i++ {
				if i >= len(lines) {
					return sc, fmt.Errorf("here-document of %q has no EOF line", line)
				}
				if lines[i] == "EOF" {
					break
				}
				in.WriteString(lines[i] + "\n")
			}
			c.stdin = in.String()
		}
		sc.commands = append(sc.commands, c)
	}
	if len(sc.commands) == 0 {
		return sc, fmt.Errorf("no commands")
	}
	return sc, nil
}

// shellQuote quotes a word for the VM's shell.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// render writes a scenario's results as its golden file: for each command
// its line, its here-document, its exit status and both streams, each
// line after "| " so that trailing blanks stay visible and nothing is lost
// (a last line without a newline is marked).
func render(sc scenario, results []result) string {
	var b strings.Builder
	for i, c := range sc.commands {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString("$ " + c.line + "\n")
		if c.stdin != "" {
			for _, l := range strings.SplitAfter(c.stdin, "\n") {
				if l != "" {
					b.WriteString("< " + strings.TrimSuffix(l, "\n") + "\n")
				}
			}
		}
		r := results[i]
		fmt.Fprintf(&b, "exit %d\n", r.status)
		renderStream(&b, "stdout", r.stdout)
		renderStream(&b, "stderr", r.stderr)
	}
	return b.String()
}

func renderStream(b *strings.Builder, name, s string) {
	if s == "" {
		b.WriteString(name + ": none\n")
		return
	}
	b.WriteString(name + ":\n")
	body, final := strings.CutSuffix(s, "\n")
	for _, l := range strings.Split(body, "\n") {
		b.WriteString("| " + l + "\n")
	}
	if !final {
		b.WriteString("\\ no newline at end\n")
	}
}

func goldenPath(name string) string { return filepath.Join("testdata", name+".golden") }

func TestParseScenario(t *testing.T) {
	sc, err := parseScenario("x", "# c\n\nipvsadm -A -t 198.18.0.1:80 -s ''\nipvsadm -R <<EOF\n-A -t 198.18.0.2:80\n\nEOF\nipvsadm\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.commands) != 3 {
		t.Fatalf("got %d commands, want 3", len(sc.commands))
	}
	if got := strings.Join(sc.commands[0].args, "|"); got != "-A|-t|198.18.0.1:80|-s|" {
		t.Errorf("args %q", got)
	}
	if sc.commands[1].stdin != "-A -t 198.18.0.2:80\n\n" || len(sc.commands[1].args) != 1 {
		t.Errorf("here-document %q args %q", sc.commands[1].stdin, sc.commands[1].args)
	}
	if len(sc.commands[2].args) != 0 {
		t.Errorf("bare ipvsadm: args %q", sc.commands[2].args)
	}
	got := render(sc, []result{{stdout: "a \nb", status: 0}, {stderr: "e\n", status: 255}, {}})
	want := "$ ipvsadm -A -t 198.18.0.1:80 -s ''\nexit 0\nstdout:\n| a \n| b\n\\ no newline at end\nstderr: none\n\n" +
		"$ ipvsadm -R <<EOF\n< -A -t 198.18.0.2:80\n< \nexit 255\nstdout: none\nstderr:\n| e\n\n" +
		"$ ipvsadm\nexit 0\nstdout: none\nstderr: none\n"
	if got != want {
		t.Errorf("render:\n%s\nwant:\n%s", got, want)
	}
}

// readerLines is bufio.Scanner over a string with long lines allowed.
func readerLines(s string) *bufio.Scanner {
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	return sc
}
