package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/joho/godotenv"
)

// The server reads settings from .env in its working directory, or from
// the file --env-file names; a variable set in the real environment wins.
func TestEnvFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	run := func(env map[string]string, args ...string) result {
		t.Helper()
		return jwtauthIn(t, dir, env, "", args...)
	}

	// .env in the working directory: its DB_DSN, with the parentheses a
	// shell would trip on, names a MySQL server; its bad PORT is reported.
	write(".env", "# settings\nDB_DSN='root:@tcp(127.0.0.1:1)/test?parseTime=true'\nPORT=eighty\n")
	r := run(nil, "migrate")
	if r.code != 1 || !strings.Contains(r.stderr, `PORT: must be a number from 1 to 65535, got "eighty" (settings from .env included)`) {
		t.Errorf(".env not read: exit %d, stderr %s", r.code, r.stderr)
	}
	// The real environment wins over the file.
	sqlite := filepath.Join(dir, "data", "x.db")
	r = run(map[string]string{"PORT": "8081", "DB_DSN": sqlite}, "migrate")
	if r.code != 0 || r.stdout != "migrated: sqlite\n" {
		t.Errorf("the environment did not win over .env: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	// --env-file names another file, before or after the command.
	other := write("prod.env", "DB_DSN="+sqlite+"\n")
	for _, args := range [][]string{{"--env-file", other, "migrate"}, {"migrate", "--env-file=" + other}} {
		if r := run(nil, args...); r.code != 0 || r.stdout != "migrated: sqlite\n" {
			t.Errorf("%q: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
		}
	}
	// A missing or broken file stops the command with its name.
	if r := run(nil, "--env-file", filepath.Join(dir, "missing.env"), "migrate"); r.code != 1 || !strings.Contains(r.stderr, "missing.env") {
		t.Errorf("missing --env-file: exit %d, stderr %s", r.code, r.stderr)
	}
}

// Every line of the example configuration, and every "# example:" line
// uncommented, means the same to a POSIX shell (set -a; . file) as to the
// server: no value a shell would split, expand or choke on.
func TestExampleConfigurationReadsAlikeEverywhere(t *testing.T) {
	f, err := os.Open("../../configs/jwtauth.env.example")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# example: "); ok {
			line = rest
		}
		if line != "" && !strings.HasPrefix(line, "#") {
			lines = append(lines, line)
		}
	}
	if len(lines) < 20 {
		t.Fatalf("only %d settings found in the example", len(lines))
	}
	for _, line := range lines {
		want, err := godotenv.Unmarshal(line)
		if err != nil {
			t.Errorf("%s: the server cannot read it: %v", line, err)
			continue
		}
		for k, v := range want {
			out, err := exec.Command("sh", "-c", "set -a; eval \"$1\"; printf %s \"$"+k+"\"", "sh", line).CombinedOutput()
			if err != nil || string(out) != v {
				t.Errorf("%s: a shell reads %q (%v), the server %q", line, out, err, v)
			}
		}
	}
}

// A "$" that the file's reader would expand is refused, naming the
// variable: a password or secret holding "$" followed by capitals was
// silently cut short (pa$Sword became pa), where docker --env-file keeps it
// and a shell expands it from its own environment. Single quotes keep it.
func TestEnvFileRefusesExpansion(t *testing.T) {
	dir := t.TempDir()
	getenv := func(string) string { return "" }
	for _, tt := range []struct{ text, refused, name, want string }{
		{"DB_DSN=postgres://app:pa$Sword@127.0.0.1/db\n", "DB_DSN", "", ""},
		{"PORT=8081\nJWT_SECRET=\"0123456789abcdef${PORT}0123456789abcdef\"\n", "JWT_SECRET", "", ""},
		{"SMTP_URL=smtp://u:p$1@127.0.0.1:25\n", "SMTP_URL", "", ""},
		{"DB_DSN='postgres://app:pa$Sword@127.0.0.1/db'\n", "", "DB_DSN", "postgres://app:pa$Sword@127.0.0.1/db"},
		{"MAIL_FROM=cost $ 5 <a@example.com>\n", "", "MAIL_FROM", "cost $ 5 <a@example.com>"},
		{"DB_DSN=data/x.db\n", "", "DB_DSN", "data/x.db"},
	} {
		path := filepath.Join(dir, "test.env")
		if err := os.WriteFile(path, []byte(tt.text), 0o600); err != nil {
			t.Fatal(err)
		}
		got, _, err := withEnvFile(getenv, path)
		switch {
		case tt.refused != "":
			if err == nil || !strings.Contains(err.Error(), tt.refused) || strings.Contains(err.Error(), "Sword") {
				t.Errorf("%q: error %v, want one naming %s (and not its value)", tt.text, err, tt.refused)
			}
		case err != nil:
			t.Errorf("%q: %v", tt.text, err)
		case got(tt.name) != tt.want:
			t.Errorf("%q: %s = %q, want %q", tt.text, tt.name, got(tt.name), tt.want)
		}
	}
}
