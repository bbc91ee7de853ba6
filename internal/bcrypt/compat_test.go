package bcrypt_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	xbcrypt "golang.org/x/crypto/bcrypt"

	"jwtauth/internal/bcrypt"
)

// The fork must be bcrypt exactly: each verifies the other's hashes, the
// same salt gives the same hash, and the original's bcryptjs hashes verify.
func TestSameAsXCrypto(t *testing.T) {
	passwords := []string{"password", "", "ünïcødé 🦊", string(make([]byte, 72))}
	for _, pw := range passwords {
		ours, err := bcrypt.GenerateFromPassword([]byte(pw), 5)
		if err != nil {
			t.Fatal(err)
		}
		if err := xbcrypt.CompareHashAndPassword(ours, []byte(pw)); err != nil {
			t.Errorf("x/crypto rejects our hash of %q: %v", pw, err)
		}
		theirs, _ := xbcrypt.GenerateFromPassword([]byte(pw), 5)
		if err := bcrypt.CompareHashAndPassword(theirs, []byte(pw)); err != nil {
			t.Errorf("we reject x/crypto's hash of %q: %v", pw, err)
		}
		if err := bcrypt.CompareHashAndPassword(theirs, []byte("x"+pw)); err != bcrypt.ErrMismatchedHashAndPassword {
			t.Errorf("a wrong password: %v", err)
		}
	}
	// bcryptjs (the original, cost 8) and the $2b$/$2y$ prefixes.
	for hash, pw := range map[string]string{
		"$2a$08$YU4NYCL.7DM7xg8wcPwQ/.VMK4KfJaa5Afk5zVVXxvFKVGlQ4J0qS": "alice-password-1",
		"$2b$04$cVWp4XaNU8a4v1uMRum2SO2jrGI6GyGOl4Z.Ny2ua.NbsKqrTEaEe": "allmine",
	} {
		want := xbcrypt.CompareHashAndPassword([]byte(hash), []byte(pw))
		if got := bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)); (got == nil) != (want == nil) {
			t.Errorf("%s: ours %v, x/crypto %v", hash, got, want)
		}
	}
	if c, err := bcrypt.Cost([]byte("$2a$08$YU4NYCL.7DM7xg8wcPwQ/.VMK4KfJaa5Afk5zVVXxvFKVGlQ4J0qS")); c != 8 || err != nil {
		t.Errorf("Cost = %d, %v", c, err)
	}
	if _, err := bcrypt.GenerateFromPassword(make([]byte, 73), 5); err != bcrypt.ErrPasswordTooLong {
		t.Errorf("73 bytes: %v", err)
	}
}

// forkedFrom is the golang.org/x/crypto version bcrypt.go was taken from,
// as its package comment says.
const forkedFrom = "v0.59.0"

// The fork must move with x/crypto: when go.mod takes another x/crypto,
// bcrypt.go is compared with that version's bcrypt and the two constants
// above and in the package comment are updated, or this fails.
func TestForkFollowsGoMod(t *testing.T) {
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*golang\.org/x/crypto (v\S+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod does not require golang.org/x/crypto")
	}
	if version := string(m[1]); version != forkedFrom {
		t.Errorf("go.mod requires golang.org/x/crypto %s, but internal/bcrypt was forked from %s: "+
			"port the changes of x/crypto/bcrypt between them, then update forkedFrom and the package comment", version, forkedFrom)
	}
	src, err := os.ReadFile("bcrypt.go")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src), "golang.org/x/crypto/bcrypt ("+forkedFrom+")") {
		t.Errorf("bcrypt.go's package comment does not name x/crypto %s", forkedFrom)
	}
}
