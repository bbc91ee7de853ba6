package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"jwtauth/internal/store"
	"jwtauth/internal/store/storetest"
)

// legacySQLite is the original's schema as Sequelize writes it on SQLite,
// without anything jwtauth adds.
var legacySQLite = []string{
	"CREATE TABLE roles (id INTEGER PRIMARY KEY, name VARCHAR(255), createdAt DATETIME NOT NULL, updatedAt DATETIME NOT NULL)",
	"CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, username VARCHAR(255), email VARCHAR(255), password VARCHAR(255), createdAt DATETIME NOT NULL, updatedAt DATETIME NOT NULL)",
	"CREATE TABLE user_roles (createdAt DATETIME NOT NULL, updatedAt DATETIME NOT NULL, roleId INTEGER NOT NULL REFERENCES roles (id), userId INTEGER NOT NULL REFERENCES users (id), PRIMARY KEY (roleId, userId))",
}

// legacyDB returns a database holding the original's schema and no rows.
func legacyDB(t *testing.T, driver string) *gorm.DB {
	t.Helper()
	dsn := storetest.NewDSN(t, driver)
	switch driver {
	case store.DriverMySQL:
		storetest.LoadMySQLDump(t, dsn, "testdata/seed-schema.sql")
		return storetest.OpenRaw(t, driver, dsn)
	case store.DriverPostgres:
		storetest.LoadPostgresDump(t, dsn, "testdata/seed-schema.postgres.sql")
		return storetest.OpenRaw(t, driver, dsn)
	}
	db := storetest.OpenRaw(t, driver, dsn)
	for _, stmt := range legacySQLite {
		mustExec(t, db, stmt)
	}
	return db
}

func mustExec(t *testing.T, db *gorm.DB, sql string, args ...any) {
	t.Helper()
	if err := db.Exec(sql, args...).Error; err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// insert adds a row of the original's columns through GORM, which quotes
// the camelCase names as each engine wants.
func insert(t *testing.T, db *gorm.DB, table string, row map[string]any) {
	t.Helper()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	row["createdAt"], row["updatedAt"] = at, at
	if err := db.Table(table).Create(row).Error; err != nil {
		t.Fatalf("insert into %s %v: %v", table, row, err)
	}
}

func count(t *testing.T, db *gorm.DB, table string) int64 {
	t.Helper()
	var n int64
	if err := db.Table(table).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func TestMigrateIsIdempotent(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		db := storetest.Open(t, driver)
		for range 3 {
			if err := store.Migrate(context.Background(), db); err != nil {
				t.Fatal(err)
			}
		}
		var roles []store.Role
		db.Order("id").Find(&roles)
		if len(roles) != 3 || roles[0].Name != "user" || roles[1].Name != "moderator" || roles[2].Name != "admin" {
			t.Errorf("roles = %+v", roles)
		}
	})
}

// Rows the original wrote (including a NULL username it could store) keep
// their values and gain their keys; NULLs do not collide.
func TestMigrateUpgradesLegacyRows(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		db := legacyDB(t, driver)
		insert(t, db, "roles", map[string]any{"id": 1, "name": "user"})
		for _, row := range [][]any{
			{7, "Bob", "Bob@Example.com"}, {8, nil, nil}, {9, nil, nil},
		} {
			insert(t, db, "users", map[string]any{"id": row[0], "username": row[1], "email": row[2], "password": "x"})
		}
		insert(t, db, "user_roles", map[string]any{"roleId": 1, "userId": 7})

		for range 2 {
			if err := store.Migrate(context.Background(), db); err != nil {
				t.Fatal(err)
			}
		}
		if n := count(t, db, "users"); n != 3 {
			t.Errorf("users = %d, want 3", n)
		}
		if n := count(t, db, "roles"); n != 3 {
			t.Errorf("roles = %d, want 3", n)
		}
		u, err := store.FindUserByUsername(context.Background(), db, "BOB")
		if err != nil || u.ID != 7 || u.Username != "Bob" || u.EmailKey != "bob@example.com" {
			t.Errorf("FindUserByUsername = %+v, %v", u, err)
		}
		roles, found, err := store.UserAccess(context.Background(), db, 7, 0, time.Now())
		if err != nil || !found || len(roles) != 1 || roles[0] != "user" {
			t.Errorf("UserRoles = %v %v %v", roles, found, err)
		}
		// The new unique index now guards against a case variant.
		err = store.CreateUser(context.Background(), db, &store.User{Username: "BOB", Email: "other@example.com", Password: "x"}, nil)
		if err == nil || !strings.Contains(err.Error(), "conflict") {
			t.Errorf("CreateUser of a case variant: %v, want a conflict", err)
		}
	})
}

// Accounts that differ only in case cannot both live under the new unique
// index: startup stops and names them, and changes nothing it cannot finish.
func TestMigrateNamesCaseDuplicates(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		db := legacyDB(t, driver)
		for _, row := range [][]any{
			{1, "alice", "a1@example.com"}, {2, "Alice", "a2@example.com"}, {3, "carol", "c@example.com"},
		} {
			insert(t, db, "users", map[string]any{"id": row[0], "username": row[1], "email": row[2], "password": "x"})
		}
		err := store.Migrate(context.Background(), db)
		if err == nil {
			t.Fatal("Migrate accepted two accounts named alice")
		}
		for _, want := range []string{`id 1 "alice"`, `id 2 "Alice"`, "differ only in case"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %s", err, want)
			}
		}
		if strings.Contains(err.Error(), "carol") {
			t.Errorf("error names an innocent row: %v", err)
		}
		if n := count(t, db, "users"); n != 3 {
			t.Errorf("users = %d, want all 3 kept", n)
		}

		// Once the operator renames one, startup succeeds.
		mustExec(t, db, "UPDATE users SET username = 'alice2' WHERE id = 2")
		if err := store.Migrate(context.Background(), db); err != nil {
			t.Fatalf("after the fix: %v", err)
		}
	})
}

func TestMigrateRefusesForeignRoles(t *testing.T) {
	db := legacyDB(t, store.DriverSQLite)
	insert(t, db, "roles", map[string]any{"id": 2, "name": "editor"})
	err := store.Migrate(context.Background(), db)
	if err == nil || !strings.Contains(err.Error(), `role "moderator" is missing`) {
		t.Fatalf("Migrate = %v, want it to name the missing moderator role", err)
	}
}

// Ten instances starting at once on an empty database: every migration
// succeeds, and there is one schema with three roles.
func TestConcurrentMigrations(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		dsn := storetest.NewDSN(t, driver)
		const n = 10
		dbs := make([]*gorm.DB, n)
		for i := range dbs {
			dbs[i] = storetest.OpenRaw(t, driver, dsn)
		}
		errs := make(chan error, n)
		start := make(chan struct{})
		for _, db := range dbs {
			go func() {
				<-start
				errs <- store.Migrate(context.Background(), db)
			}()
		}
		close(start)
		for range n {
			if err := <-errs; err != nil {
				t.Errorf("a concurrent migration failed: %v", err)
			}
		}
		if got := count(t, dbs[0], "roles"); got != 3 {
			t.Errorf("roles = %d, want 3", got)
		}
		err := store.CreateUser(context.Background(), dbs[0], &store.User{Username: "once", Email: "once@example.com", Password: "x"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = store.CreateUser(context.Background(), dbs[1], &store.User{Username: "ONCE", Email: "other@example.com", Password: "x"}, nil)
		if err == nil {
			t.Error("the unique indexes are missing after concurrent migrations")
		}
	})
}
