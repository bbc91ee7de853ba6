package config_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io/fs"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"jwtauth/internal/config"
)

// randomSecret is a secret as `openssl rand -base64 48` makes one, new for
// each call: a literal would be a secret published in the repository.
func randomSecret(t testing.TB) string {
	t.Helper()
	return base64.StdEncoding.EncodeToString(randomBytes(t, 48))
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func randomDigits(t testing.TB, n int) string {
	t.Helper()
	var sb strings.Builder
	for range n {
		d, err := rand.Int(rand.Reader, big.NewInt(10))
		if err != nil {
			t.Fatal(err)
		}
		sb.WriteByte(byte('0' + d.Int64()))
	}
	return sb.String()
}

// Secrets anyone can guess or read are refused, with one line that names
// the variable and says how to make a good one; random ones of the usual
// shapes pass.
func TestSecretsMustBeUnguessable(t *testing.T) {
	refused := map[string]string{
		"too short":                    "0123456789abcdefghijklmnopqrstu",
		"one character repeated":       strings.Repeat("s", 32),
		"one character, long":          strings.Repeat("k", 200),
		"two characters alternating":   strings.Repeat("ab", 40),
		"a short pattern repeated":     strings.Repeat("abc", 20),
		"a word repeated":              strings.Repeat("password", 4),
		"a word repeated, long":        strings.Repeat("password", 16),
		"a pattern with a partial end": strings.Repeat("letmein!", 5) + "let",
		"an alphabet run":              "abcdefghijklmnopqrstuvwxyz012345",
		"a keyboard digit run":         "0123456789012345678901234567890123456789",
		"hex counting":                 "0123456789abcdef0123456789abcdef",
		"the configs example":          "change-me-to-48-random-bytes-change-me-to-48-random",
		"the configs rotation example": "the-old-secret-of-at-least-32-bytes-long",
		"the benchmark's old secret":   "bench-secret-0123456789-0123456789-0123456789",
		"the handler tests' secret":    "test-secret-0123456789-0123456789-abcdef",
	}
	for name, secret := range refused {
		for _, variable := range []string{"JWT_SECRET", "JWT_PREVIOUS_SECRETS"} {
			_, err := config.Load(env(map[string]string{variable: secret}))
			if err == nil {
				t.Errorf("%s: %s %q accepted", name, variable, secret)
				continue
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "invalid configuration: "+variable+": ") || strings.Contains(msg, "\n") {
				t.Errorf("%s: error %q should be one line naming %s", name, msg, variable)
			}
			if !strings.Contains(msg, "openssl rand -base64 48") {
				t.Errorf("%s: error %q does not say how to make a secret", name, msg)
			}
			if strings.Contains(msg, secret) {
				t.Errorf("%s: error %q repeats the secret", name, msg)
			}
		}
	}

	accepted := map[string]string{
		"openssl rand -base64 48": randomSecret(t),
		"openssl rand -base64 24": base64.StdEncoding.EncodeToString(randomBytes(t, 24)),
		"openssl rand -hex 16":    hex.EncodeToString(randomBytes(t, 16)),
		"openssl rand -hex 32":    hex.EncodeToString(randomBytes(t, 32)),
		"base64url, 32 bytes":     base64.RawURLEncoding.EncodeToString(randomBytes(t, 32)),
		"40 random digits":        randomDigits(t, 40),
	}
	for name, secret := range accepted {
		cfg, err := config.Load(env(map[string]string{"JWT_SECRET": secret, "JWT_PREVIOUS_SECRETS": randomSecret(t) + "," + secret}))
		if err != nil {
			t.Errorf("%s: %q refused: %v", name, secret, err)
			continue
		}
		if string(cfg.JWTSecret) != secret || len(cfg.JWTPreviousSecrets) != 2 {
			t.Errorf("%s: got %q and %d previous secrets", name, cfg.JWTSecret, len(cfg.JWTPreviousSecrets))
		}
	}

	// Each previous secret is checked, and named by its position.
	_, err := config.Load(env(map[string]string{"JWT_PREVIOUS_SECRETS": randomSecret(t) + "," + strings.Repeat("p", 40)}))
	if err == nil || !strings.Contains(err.Error(), "JWT_PREVIOUS_SECRETS: secret 2 ") {
		t.Errorf("a weak second previous secret: %v", err)
	}
}

// secretAssignments find secrets written down in the repository: shell and
// env-file assignments (JWT_SECRET=...), Go or JSON string maps
// ("JWT_SECRET": "...") and YAML (JWT_SECRET: ...).
var secretAssignments = []*regexp.Regexp{
	regexp.MustCompile(`\b(JWT_SECRET|JWT_PREVIOUS_SECRETS)=([^\s"'` + "`" + `]+)`),
	regexp.MustCompile(`"(JWT_SECRET|JWT_PREVIOUS_SECRETS)"\s*:\s*"([^"]+)"`),
	regexp.MustCompile(`(?m)^\s*(JWT_SECRET|JWT_PREVIOUS_SECRETS):\s*["']?([^\s"'#]+)`),
}

// Every secret the repository shows, in examples, documentation, tests or
// benchmarks, is public, so the server must refuse it: a new example can
// only be added together with its refusal (config's list of known secrets).
func TestRepositorySecretsAreRefused(t *testing.T) {
	root := moduleRoot(t)
	found := 0
	for _, path := range repositoryFiles(t, root) {
		b, err := os.ReadFile(filepath.Join(root, path))
		if err != nil || len(b) > 1<<20 || bytes.IndexByte(b, 0) >= 0 {
			continue // gone from the work tree, large, or binary
		}
		for _, re := range secretAssignments {
			for _, m := range re.FindAllStringSubmatch(string(b), -1) {
				variable, value := m[1], m[2]
				if strings.HasPrefix(value, "$") || strings.HasPrefix(value, "%") {
					continue // taken from elsewhere: $(openssl ...), ${VAR}, a format verb
				}
				found++
				for _, secret := range strings.Split(value, ",") {
					if strings.TrimSpace(secret) == "" {
						continue
					}
					if _, err := config.Load(env(map[string]string{"JWT_SECRET": secret})); err == nil {
						t.Errorf("%s: %s=%s is accepted as JWT_SECRET; add it to config's known secrets", path, variable, value)
					}
				}
			}
		}
	}
	// The scan must see at least the examples in configs/jwtauth.env.example.
	if found < 2 {
		t.Fatalf("found %d secrets in the repository, want at least the 2 of configs/jwtauth.env.example", found)
	}
}

// moduleRoot is the directory holding go.mod, above the test's own.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// repositoryFiles lists the files git tracks, or, outside a git checkout
// (a source archive), every file under root but .git.
func repositoryFiles(t *testing.T, root string) []string {
	t.Helper()
	cmd := exec.Command("git", "ls-files", "-z")
	cmd.Dir = root
	if out, err := cmd.Output(); err == nil {
		return strings.Split(strings.TrimRight(string(out), "\x00"), "\x00")
	}
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			files = append(files, rel)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return files
}
