package httpapi_test

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
	"gorm.io/gorm"

	"jwtauth/internal/auth"
	"jwtauth/internal/store"
	"jwtauth/internal/store/storetest"
)

// seedAccounts are the accounts the Node.js original created in
// testdata/seed-db.sql (bcryptjs, cost 8).
var seedAccounts = []struct {
	username, password, email string
	id                        int64
	roles                     string
}{
	{"alice", "alice-password-1", "alice@example.com", 484, "[ROLE_USER]"},
	{"morgan", "morgan-password-2", "morgan@example.com", 485, "[ROLE_USER ROLE_MODERATOR]"},
	{"root_admin", "admin-password-3", "admin@example.com", 486, "[ROLE_ADMIN]"},
	{"Mixed.Case", "mixed-password-4", "Mixed.Case@Example.com", 487, "[ROLE_USER ROLE_MODERATOR ROLE_ADMIN]"},
}

func hashes(t *testing.T, db *gorm.DB) map[string]string {
	t.Helper()
	var users []store.User
	if err := db.Order("id").Find(&users).Error; err != nil {
		t.Fatal(err)
	}
	m := make(map[string]string, len(users))
	for _, u := range users {
		m[u.Username] = u.Password
	}
	return m
}

func tableCounts(t *testing.T, db *gorm.DB) string {
	t.Helper()
	var out []string
	for _, table := range []string{"users", "roles", "user_roles"} {
		var n int64
		if err := db.Table(table).Count(&n).Error; err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s=%d", table, n))
	}
	return strings.Join(out, " ")
}

// jwtauth started on the database the original created keeps every row,
// signs every account in with its roles, upgrades the cost-8 hashes once,
// and a restart changes nothing more: on MariaDB from the original's dump,
// and on PostgreSQL from the same rows in the tables Sequelize creates there.
func TestDropInOnTheOriginalsDatabase(t *testing.T) {
	storetest.RunServers(t, testDropIn)
}

func testDropIn(t *testing.T, driver string) {
	dsn := storetest.NewDSN(t, driver)
	if driver == store.DriverMySQL {
		storetest.LoadMySQLDump(t, dsn, "../store/testdata/seed-db.sql")
	} else {
		storetest.LoadPostgresDump(t, dsn, "../store/testdata/seed-db.postgres.sql")
	}
	const cost = 9 // above the original's 8; the default 10 only makes the test slower
	withCost := func(o *auth.Options) { o.BcryptCost = cost }

	s := serverOn(t, storetest.OpenDSN(t, driver, dsn), withCost)
	const counts = "users=4 roles=3 user_roles=7"
	if got := tableCounts(t, s.db); got != counts {
		t.Fatalf("after migration: %s, want %s", got, counts)
	}
	legacy := hashes(t, s.db)
	for _, a := range seedAccounts {
		if !strings.HasPrefix(legacy[a.username], "$2a$08$") {
			t.Fatalf("%s's seed hash is %q, want bcryptjs cost 8", a.username, legacy[a.username])
		}
	}

	for _, a := range seedAccounts {
		got := s.signIn(t, strings.ToUpper(a.username), a.password)
		if got.ID != a.id || got.Username != a.username || got.Email != a.email || fmt.Sprint(got.Roles) != a.roles {
			t.Errorf("signin %s = %+v, want id %d, roles %s", a.username, got, a.id, a.roles)
		}
	}
	upgraded := hashes(t, s.db)
	for _, a := range seedAccounts {
		if c, err := bcrypt.Cost([]byte(upgraded[a.username])); err != nil || c != cost {
			t.Errorf("%s's hash cost after signin = %d (%v), want %d", a.username, c, err, cost)
		}
	}

	// Restart: a new connection, migrations again, a new server.
	s2 := serverOn(t, storetest.OpenDSN(t, driver, dsn), withCost)
	if got := tableCounts(t, s2.db); got != counts {
		t.Errorf("after restart: %s, want %s", got, counts)
	}
	for _, a := range seedAccounts {
		if got := s2.signIn(t, a.username, a.password); fmt.Sprint(got.Roles) != a.roles {
			t.Errorf("after restart, %s roles = %v", a.username, got.Roles)
		}
	}
	if after := hashes(t, s2.db); fmt.Sprint(after) != fmt.Sprint(upgraded) {
		t.Error("signing in again after the restart rehashed an upgraded password")
	}

	// The old tokens' boards still answer by role.
	admin := s2.signIn(t, "root_admin", "admin-password-3").AccessToken
	wantText(t, s2.get(t, "/api/test/admin", admin), 200, "Admin Content.")
	wantJSON(t, s2.get(t, "/api/test/mod", admin), 403, "Require Moderator Role!")

	// New accounts continue the original's ids; its names stay taken in any case.
	wantJSON(t, s2.postJSON(t, "/api/auth/signup", map[string]string{
		"username": "mixed.case", "email": "new@example.com", "password": "password-1"}), 400, "Failed! Username is already in use!")
	wantJSON(t, s2.postJSON(t, "/api/auth/signup", map[string]string{
		"username": "newcomer", "email": "ALICE@example.com", "password": "password-1"}), 400, "Failed! Email is already in use!")
	s2.signUp(t, "newcomer", "newcomer@example.com", "password-1")
	if got := s2.signIn(t, "newcomer", "password-1").ID; got != 488 {
		t.Errorf("new user id = %d, want 488 (where the original's id sequence stood)", got)
	}
}
