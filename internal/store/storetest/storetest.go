// Package storetest gives tests throwaway databases: a fresh SQLite file per
// call, a fresh MariaDB/MySQL database per call when TEST_MYSQL_DSN names a
// server, and a fresh PostgreSQL schema per call when TEST_POSTGRES_DSN
// does. It also breaks them the ways production does: a SQLite that fills
// up, killed connections, and a Proxy that takes the server away or stalls
// it. Nothing is mocked; every test talks to a real engine.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"

	"jwtauth/internal/store"
)

// MySQLEnv names the variable holding the DSN of a MySQL-compatible server
// the tests may create databases on, e.g.
// root:@tcp(127.0.0.1:3306)/test?parseTime=true.
const MySQLEnv = "TEST_MYSQL_DSN"

// PostgresEnv names the variable holding the DSN of a PostgreSQL database
// the tests may create schemas in, e.g.
// postgres://root@127.0.0.1:5432/test?sslmode=disable.
const PostgresEnv = "TEST_POSTGRES_DSN"

// Drivers are the engines Run covers, in order.
var Drivers = []string{store.DriverSQLite, store.DriverMySQL, store.DriverPostgres}

// Run runs fn as a subtest on every engine: SQLite always, MySQL when
// TEST_MYSQL_DSN is set and PostgreSQL when TEST_POSTGRES_DSN is (each
// skipped, saying so, when its variable is not).
func Run(t *testing.T, fn func(t *testing.T, driver string)) {
	t.Helper()
	for _, driver := range Drivers {
		t.Run(driver, func(t *testing.T) {
			Require(t, driver)
			fn(t, driver)
		})
	}
}

// RunServers runs fn as a subtest on each engine that is a server shared
// by processes (MySQL and PostgreSQL), each skipped, saying so, when its
// variable is not set.
func RunServers(t *testing.T, fn func(t *testing.T, driver string)) {
	t.Helper()
	for _, driver := range []string{store.DriverMySQL, store.DriverPostgres} {
		t.Run(driver, func(t *testing.T) {
			Require(t, driver)
			fn(t, driver)
		})
	}
}

// Require skips t unless the server driver needs is configured; SQLite
// needs none.
func Require(t testing.TB, driver string) {
	t.Helper()
	switch driver {
	case store.DriverMySQL:
		RequireMySQL(t)
	case store.DriverPostgres:
		RequirePostgres(t)
	}
}

// RequireMySQL skips t unless TEST_MYSQL_DSN is set.
func RequireMySQL(t testing.TB) {
	t.Helper()
	if os.Getenv(MySQLEnv) == "" {
		t.Skipf("%s not set: MySQL/MariaDB test skipped", MySQLEnv)
	}
}

// RequirePostgres skips t unless TEST_POSTGRES_DSN is set.
func RequirePostgres(t testing.TB) {
	t.Helper()
	if os.Getenv(PostgresEnv) == "" {
		t.Skipf("%s not set: PostgreSQL test skipped", PostgresEnv)
	}
}

// NewDSN creates an empty throwaway database and returns its DSN; it is
// removed when the test ends. A set TEST_MYSQL_DSN or TEST_POSTGRES_DSN
// that cannot be reached fails the test: it never turns into a silent skip.
func NewDSN(tb testing.TB, driver string) string {
	tb.Helper()
	switch driver {
	case store.DriverSQLite:
		return filepath.Join(tb.TempDir(), "jwtauth.db")
	case store.DriverMySQL:
		return newMySQLDatabase(tb)
	case store.DriverPostgres:
		return newPostgresSchema(tb)
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

// OpenSmallSQLite returns a fresh, migrated SQLite database that can grow
// by only pages more pages (PRAGMA max_page_count): past them a write fails
// as on a full disk.
func OpenSmallSQLite(tb testing.TB, pages int64) *gorm.DB {
	tb.Helper()
	dsn := NewDSN(tb, store.DriverSQLite)
	db := OpenDSN(tb, store.DriverSQLite, dsn)
	var used int64
	if err := db.Raw("PRAGMA page_count").Scan(&used).Error; err != nil {
		tb.Fatal(err)
	}
	store.Close(db)
	return OpenDSN(tb, store.DriverSQLite, fmt.Sprintf("%s?_pragma=max_page_count(%d)", dsn, used+pages))
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

func throwawayName() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "jwtauth_test_" + hex.EncodeToString(b)
}

// newPostgresSchema creates a schema in TEST_POSTGRES_DSN's database and
// returns a DSN whose search_path is that schema alone: to jwtauth it looks
// like an empty database. Its connections carry the schema's name as
// application_name, so that a test can find and end them.
func newPostgresSchema(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv(PostgresEnv)
	name := throwaway(tb, store.DriverPostgres, PostgresEnv, `CREATE SCHEMA "%s"`, `DROP SCHEMA "%s" CASCADE`)
	return withPostgresParams(tb, base, map[string]string{"search_path": name, "application_name": name})
}

// throwaway runs create, with a fresh name for %s, on the server that the
// variable env names, and drop when the test ends. It returns the name.
func throwaway(tb testing.TB, driver, env, create, drop string) string {
	tb.Helper()
	base := os.Getenv(env)
	if base == "" {
		tb.Fatalf("%s is not set", env)
	}
	exec := func(stmt string) error {
		db, err := store.Open(context.Background(), driver, base)
		if err != nil {
			return fmt.Errorf("%s: cannot reach the server: %w", env, err)
		}
		defer store.Close(db)
		return db.Exec(stmt).Error
	}
	name := throwawayName()
	if err := exec(fmt.Sprintf(create, name)); err != nil {
		tb.Fatalf("create %s: %v", name, err)
	}
	tb.Cleanup(func() {
		if err := exec(fmt.Sprintf(drop, name)); err != nil {
			tb.Errorf("drop %s: %v", name, err)
		}
	})
	return name
}

// withPostgresParams sets parameters of a pgx DSN, in either of its forms.
func withPostgresParams(tb testing.TB, dsn string, params map[string]string) string {
	tb.Helper()
	if strings.Contains(dsn, "://") {
		u, err := url.Parse(dsn)
		if err != nil {
			tb.Fatalf("%s: %v", PostgresEnv, err)
		}
		q := u.Query()
		for k, v := range params {
			q.Set(k, v)
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	for k, v := range params {
		dsn += fmt.Sprintf(" %s=%s", k, v)
	}
	return dsn
}

// KillConnections makes the server end every connection to the database
// of a DSN from NewDSN, as a server restart or a failover does, and reports
// how many it ended.
func KillConnections(tb testing.TB, driver, dsn string) int {
	tb.Helper()
	var base, query string
	var arg any
	switch driver {
	case store.DriverMySQL:
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			tb.Fatal(err)
		}
		base, arg = os.Getenv(MySQLEnv), cfg.DBName
		query = "SELECT id FROM information_schema.processlist WHERE db = ?"
	case store.DriverPostgres:
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			tb.Fatal(err)
		}
		base, arg = os.Getenv(PostgresEnv), cfg.RuntimeParams["application_name"]
		query = "SELECT pid FROM pg_stat_activity WHERE application_name = ? AND pid <> pg_backend_pid()"
	default:
		tb.Fatalf("storetest: cannot kill connections on %q", driver)
	}
	admin := OpenRaw(tb, driver, base)
	var ids []int64
	if err := admin.Raw(query, arg).Scan(&ids).Error; err != nil {
		tb.Fatal(err)
	}
	for _, id := range ids {
		kill := fmt.Sprintf("KILL %d", id)
		if driver == store.DriverPostgres {
			kill = fmt.Sprintf("SELECT pg_terminate_backend(%d)", id)
		}
		if err := admin.Exec(kill).Error; err != nil {
			tb.Logf("%s: %v", kill, err)
		}
	}
	return len(ids)
}

func newMySQLDatabase(tb testing.TB) string {
	tb.Helper()
	cfg, err := mysql.ParseDSN(os.Getenv(MySQLEnv))
	if err != nil {
		tb.Fatalf("%s: %v", MySQLEnv, err)
	}
	cfg.DBName = throwaway(tb, store.DriverMySQL, MySQLEnv, "CREATE DATABASE `%s` CHARACTER SET utf8mb4", "DROP DATABASE `%s`")
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

// LoadPostgresDump runs the statements of a plain SQL file (such as
// testdata/seed-db.postgres.sql) on dsn, in one transaction.
func LoadPostgresDump(tb testing.TB, dsn, path string) {
	tb.Helper()
	dump, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(context.Background())
	// Without arguments, pgx sends the file as one simple-protocol query,
	// which may hold many statements and runs as one transaction.
	if _, err := conn.Exec(context.Background(), string(dump)); err != nil {
		tb.Fatalf("load %s: %v", path, err)
	}
}
