// Package storetest gives tests throwaway databases: a fresh SQLite file per
// call, and a fresh MariaDB/MySQL database per call when TEST_MYSQL_DSN
// names a server. Nothing is mocked; every test talks to a real engine.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"jwtauth/internal/store"
)

// MySQLEnv names the variable holding the DSN of a MySQL-compatible server
// the tests may create databases on, e.g.
// root:@tcp(127.0.0.1:3306)/test?parseTime=true.
const MySQLEnv = "TEST_MYSQL_DSN"

// Run runs fn as a subtest on every engine: SQLite always, MySQL when
// TEST_MYSQL_DSN is set (skipped, saying so, when it is not).
func Run(t *testing.T, fn func(t *testing.T, driver string)) {
	t.Helper()
	for _, driver := range []string{store.DriverSQLite, store.DriverMySQL} {
		t.Run(driver, func(t *testing.T) {
			if driver == store.DriverMySQL {
				RequireMySQL(t)
			}
			fn(t, driver)
		})
	}
}

// RequireMySQL skips t unless TEST_MYSQL_DSN is set.
func RequireMySQL(t testing.TB) {
	t.Helper()
	if os.Getenv(MySQLEnv) == "" {
		t.Skipf("%s not set: MySQL/MariaDB test skipped", MySQLEnv)
	}
}

// NewDSN creates an empty throwaway database and returns its DSN; it is
// removed when the test ends. A set TEST_MYSQL_DSN that cannot be reached
// fails the test: it never turns into a silent skip.
func NewDSN(tb testing.TB, driver string) string {
	tb.Helper()
	switch driver {
	case store.DriverSQLite:
		return filepath.Join(tb.TempDir(), "jwtauth.db")
	case store.DriverMySQL:
		return newMySQLDatabase(tb)
	}
	tb.Fatalf("storetest: unknown driver %q", driver)
	return ""
}

// Open returns a connection to a fresh, migrated database on driver.
func Open(tb testing.TB, driver string) *gorm.DB {
	tb.Helper()
	return OpenDSN(tb, driver, NewDSN(tb, driver))
}

// OpenDSN connects to dsn and migrates it, closing it when the test ends.
func OpenDSN(tb testing.TB, driver, dsn string) *gorm.DB {
	tb.Helper()
	db := OpenRaw(tb, driver, dsn)
	if err := store.Migrate(context.Background(), db); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
	return db
}

// OpenRaw connects to dsn without migrating, closing it when the test ends.
func OpenRaw(tb testing.TB, driver, dsn string) *gorm.DB {
	tb.Helper()
	db, err := store.Open(context.Background(), driver, dsn)
	if err != nil {
		tb.Fatalf("open %s: %v", driver, err)
	}
	tb.Cleanup(func() { store.Close(db) })
	return db
}

func newMySQLDatabase(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv(MySQLEnv)
	if base == "" {
		tb.Fatalf("%s is not set", MySQLEnv)
	}
	cfg, err := mysql.ParseDSN(base)
	if err != nil {
		tb.Fatalf("%s: %v", MySQLEnv, err)
	}
	admin, err := store.Open(context.Background(), store.DriverMySQL, base)
	if err != nil {
		tb.Fatalf("%s: cannot reach the server: %v", MySQLEnv, err)
	}
	defer store.Close(admin)

	b := make([]byte, 6)
	rand.Read(b)
	name := "jwtauth_test_" + hex.EncodeToString(b)
	if err := admin.Exec(fmt.Sprintf("CREATE DATABASE `%s` CHARACTER SET utf8mb4", name)).Error; err != nil {
		tb.Fatalf("create test database: %v", err)
	}
	tb.Cleanup(func() {
		db, err := store.Open(context.Background(), store.DriverMySQL, base)
		if err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer store.Close(db)
		if err := db.Exec(fmt.Sprintf("DROP DATABASE `%s`", name)).Error; err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
		}
	})
	cfg.DBName = name
	return cfg.FormatDSN()
}

// LoadMySQLDump runs the statements of a mysqldump/mariadb-dump file (such
// as testdata/seed-db.sql, written by the Node.js original) on dsn.
func LoadMySQLDump(tb testing.TB, dsn, path string) {
	tb.Helper()
	dump, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.MultiStatements = true
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	if _, err := db.Exec(string(dump)); err != nil {
		tb.Fatalf("load %s: %v", path, err)
	}
}
