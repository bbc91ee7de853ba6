package main

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// The small facts the README states about the repository agree with the
// repository: a new user who follows them must not meet another.
func TestREADMEAgreesWithTheRepository(t *testing.T) {
	read := func(path string) string {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	readme, gomod, makefile := read("../../README.md"), read("../../go.mod"), read("../../Makefile")

	goLine := regexp.MustCompile(`(?m)^go (\S+)$`).FindStringSubmatch(gomod)
	if goLine == nil || !strings.Contains(readme, "You need Go ("+goLine[1]+" or newer)") {
		t.Errorf("the README's Go version is not go.mod's (%v)", goLine)
	}

	// make bench's duration, as make help and the README say it.
	help := regexp.MustCompile(`(?m)^bench: ## .*\((about \d+ minutes)\)`).FindStringSubmatch(makefile)
	if help == nil || !strings.Contains(readme, "make bench ") || !regexp.MustCompile(`make bench +# .*`+help[1]).MatchString(readme) {
		t.Errorf("make help and the README disagree on how long make bench takes (%v)", help)
	}

	// The layout lists every package directory and the top-level ones.
	dirs := []string{"cmd/jwtauth/", "bench/", "configs/", "docs/"}
	entries, err := os.ReadDir("../../internal")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, "internal/"+e.Name()+"/")
		}
	}
	for _, d := range dirs {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(d) + ` `).MatchString(readme) {
			t.Errorf("the README's layout does not list %s", d)
		}
	}

	// make help's descriptions start in one column.
	if _, err := exec.LookPath("make"); err == nil {
		out, err := exec.Command("make", "--no-print-directory", "-C", "../..", "help").Output()
		if err != nil {
			t.Fatal(err)
		}
		column := -1
		for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
			m := regexp.MustCompile(`^  make \S+ +`).FindString(line)
			if m == "" {
				t.Errorf("make help line %q", line)
				continue
			}
			if column == -1 {
				column = len(m)
			}
			if len(m) != column {
				t.Errorf("make help: %q does not start its description in column %d", line, column)
			}
		}
	}
}
