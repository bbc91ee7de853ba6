// Package store keeps users, roles and sign-in sessions (refresh tokens) in
// a SQL database through GORM: SQLite, MySQL/MariaDB or PostgreSQL. It is
// the only package that knows which engine is underneath: Open picks the
// driver, Migrate speaks each engine's DDL, calls are bounded by the
// handle's deadline, and every error leaves this package as one of a few
// dialect-neutral values.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	gosqlite "github.com/glebarez/go-sqlite"
	"github.com/glebarez/sqlite"
	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	gormmysql "gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"
)

// Drivers jwtauth can open.
const (
	DriverSQLite   = "sqlite"
	DriverMySQL    = "mysql"
	DriverPostgres = "postgres"
)

// Errors every store function returns in place of engine-specific ones.
var (
	// ErrNotFound means the row asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means a unique index refused the write.
	ErrConflict = errors.New("conflict")
	// ErrUnavailable means the database could not be reached or was too
	// busy; the same request may succeed later.
	ErrUnavailable = errors.New("database unavailable")
	// ErrStorageFull means the database had no room left for a write: a
	// full disk or a size limit. Errors carrying it carry ErrUnavailable
	// too, since the same write may succeed once room is made.
	ErrStorageFull = errors.New("database storage is full")
	// ErrUnstorable means the database refused a value it cannot hold, such
	// as an emoji in a MySQL table created with the 3-byte utf8 charset.
	ErrUnstorable = errors.New("value cannot be stored")
	// ErrClosed means the handle was closed by Close, as at shutdown.
	// Errors carrying it carry ErrUnavailable too: another instance, or
	// this one restarted, can serve the request.
	ErrClosed = errors.New("database handle closed")
)

// Open connects to the database and checks that it answers. For SQLite the
// DSN is a file path (its directory is created) and jwtauth adds WAL mode,
// a busy timeout, foreign keys and immediate write transactions, so that
// concurrent writers wait for each other instead of failing. For MySQL the
// DSN is go-sql-driver's; parseTime, UTC and connect/read timeouts are
// forced on so that an unreachable server fails requests fast. For
// PostgreSQL the DSN is pgx's (a postgres:// URL or key=value pairs); a
// connect timeout, TCP keepalives and an application_name are added
// unless the DSN sets them.
func Open(ctx context.Context, driverName, dsn string) (*gorm.DB, error) {
	var dialector gorm.Dialector
	switch driverName {
	case DriverSQLite:
		full, err := sqliteDSN(dsn)
		if err != nil {
			return nil, err
		}
		dialector = sqlite.Open(full)
	case DriverMySQL:
		cfg, err := mysqlConfig(dsn)
		if err != nil {
			return nil, err
		}
		// Asked first: the driver would wait its read timeout for the
		// greeting of a server that never sends one.
		if cfg.Net == "tcp" {
			if err := wrongEngine(ctx, cfg.Addr, engineMySQL, cfg.Timeout); err != nil {
				return nil, fmt.Errorf("connect to %s: %w", driverName, err)
			}
		}
		dialector = gormmysql.New(gormmysql.Config{DSNConfig: cfg})
	case DriverPostgres:
		cfg, err := postgresConfig(dsn)
		if err != nil {
			return nil, err
		}
		dialector = postgres.New(postgres.Config{Conn: stdlib.OpenDB(*cfg)})
	default:
		return nil, fmt.Errorf("unknown database driver %q", driverName)
	}
	db, err := gorm.Open(dialector, &gorm.Config{
		TranslateError: true,
		// auth owns the transactions, and never nests them: a nested one
		// would be a hidden SAVEPOINT, whose partial rollback nobody asked
		// for. Should one be nested by mistake, it runs inside its parent.
		DisableNestedTransaction: true,
		Logger:                   logger.Discard,
		// Seconds, in UTC: what the original's DATETIME columns hold.
		NowFunc: func() time.Time { return time.Now().UTC().Truncate(time.Second) },
	})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", driverName, pgWrongEngine(ctx, driverName, dsn, err))
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	if err := db.Use(&deadline{}); err != nil {
		sqlDB.Close()
		return nil, err
	}
	if err := db.Use(&storageWatch{now: time.Now}); err != nil {
		sqlDB.Close()
		return nil, err
	}
	SetPool(db, DefaultPool)
	if driverName == DriverSQLite && (strings.HasPrefix(dsn, ":memory:") || strings.Contains(dsn, "mode=memory")) {
		// Each connection to an in-memory database is a database of its own.
		sqlDB.SetMaxOpenConns(1)
	}
	if err := Ping(ctx, db); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("connect to %s: %w", driverName, pgWrongEngine(ctx, driverName, dsn, err))
	}
	return db, nil
}

// Pool sizes the connection pool. Several instances share one database
// server, whose connection limit (151 by default on MySQL and MariaDB) is
// split between them.
type Pool struct {
	MaxOpen     int           // connections at most (0: unlimited)
	MaxIdle     int           // idle connections kept
	MaxLifetime time.Duration // a connection's age at most (0: forever)
}

// DefaultPool lets ten instances share a default MySQL server with room to spare.
var DefaultPool = Pool{MaxOpen: 10, MaxIdle: 10, MaxLifetime: 30 * time.Minute}

// SetPool applies p to db's connection pool.
func SetPool(db *gorm.DB, p Pool) {
	if sqlDB, err := db.DB(); err == nil {
		sqlDB.SetMaxOpenConns(p.MaxOpen)
		sqlDB.SetMaxIdleConns(p.MaxIdle)
		sqlDB.SetConnMaxLifetime(p.MaxLifetime)
	}
}

// Close releases the database's connections. Every call made through db
// afterwards fails with ErrClosed.
func Close(db *gorm.DB) error {
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	if p := deadlineOf(db); p != nil {
		p.closed.Store(true)
	}
	return sqlDB.Close()
}

// Ping checks that the database answers, for readiness probes. It
// returns ErrStorageFull (and ErrUnavailable) while a write refused for
// want of room is recent (StorageFullFor) and no row has been stored since:
// such a database answers, but cannot take signups.
func Ping(ctx context.Context, db *gorm.DB) error {
	if isClosed(db) {
		return errClosed
	}
	if err := checkStorage(db); err != nil {
		return err
	}
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	return translate(sqlDB.PingContext(ctx))
}

// Describe names the database for logs without its password.
func Describe(driverName, dsn string) string {
	if driverName == DriverMySQL {
		if cfg, err := mysql.ParseDSN(dsn); err == nil {
			return fmt.Sprintf("mysql %s@%s/%s", cfg.User, cfg.Addr, cfg.DBName)
		}
		return "mysql"
	}
	if driverName == DriverPostgres {
		if cfg, err := pgconn.ParseConfig(dsn); err == nil {
			return fmt.Sprintf("postgres %s@%s/%s", cfg.User, net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))), cfg.Database)
		}
		return "postgres"
	}
	path, _, _ := strings.Cut(dsn, "?")
	return "sqlite " + path
}

func sqliteDSN(dsn string) (string, error) {
	path, query, _ := strings.Cut(dsn, "?")
	params, err := url.ParseQuery(query)
	if err != nil {
		return "", fmt.Errorf("sqlite dsn: %w", err)
	}
	if path != ":memory:" && !strings.HasPrefix(path, "file:") {
		if dir := filepath.Dir(path); dir != "." {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return "", fmt.Errorf("create database directory: %w", err)
			}
		}
	}
	pragmas := strings.Join(params["_pragma"], ",")
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "foreign_keys(1)"} {
		name, _, _ := strings.Cut(p, "(")
		if !strings.Contains(pragmas, name) {
			params.Add("_pragma", p)
		}
	}
	if params.Get("_txlock") == "" {
		params.Set("_txlock", "immediate")
	}
	return path + "?" + params.Encode(), nil
}

func mysqlConfig(dsn string) (*mysql.Config, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("mysql dsn: %w", err)
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 30 * time.Second
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	return cfg, nil
}

// col names a column (or table.column) in a query's placeholders, for GORM
// to quote as the engine underneath wants. The original's columns are
// camelCase, which PostgreSQL folds to lower case unless they are quoted.
func col(name string) clause.Column { return clause.Column{Name: name} }

// postgresConfig parses a pgx DSN and fills in what an unattended server
// needs: a connect timeout, and keepalives with a TCP user timeout so that
// a server that vanished without closing its connections fails queries
// within about 30s instead of the kernel's 15 minutes.
func postgresConfig(dsn string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres dsn: %w", err)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	dialer := &net.Dialer{
		Timeout:         cfg.ConnectTimeout,
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 15 * time.Second, Interval: 5 * time.Second, Count: 3},
		Control:         setUserTimeout(30 * time.Second),
	}
	cfg.DialFunc = dialer.DialContext
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "jwtauth"
	}
	return cfg, nil
}

// translate turns driver errors into this package's errors, keeping the
// original in the chain for logs. An error it already translated passes
// through unchanged.
func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrConflict),
		errors.Is(err, ErrUnstorable), errors.Is(err, ErrUnavailable):
		return err
	case errors.Is(err, gorm.ErrRecordNotFound):
		return ErrNotFound
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return fmt.Errorf("%w: %w", ErrConflict, err)
	case unstorable(err):
		return fmt.Errorf("%w: %w", ErrUnstorable, err)
	case storageFull(err):
		return fmt.Errorf("%w: %w: %w", ErrStorageFull, ErrUnavailable, err)
	case unavailable(err):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// unstorable reports whether the database refused a value for its
// characters or length: on MySQL an incorrect string value, data too long
// or an illegal mix of collations; on PostgreSQL a NUL byte or invalid
// UTF-8 in text, or a value too long.
func unstorable(err error) bool {
	var myErr *mysql.MySQLError
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &myErr):
		switch myErr.Number {
		case 1267, 1270, 1271, 1366, 1406:
			return true
		}
	case errors.As(err, &pgErr):
		switch pgErr.Code {
		case "22001", "22021", "22P05", "54000":
			return true
		case "08P01":
			// A NUL byte sent inline by the simple protocol (PgBouncer
			// setups) breaks the message itself.
			return true
		}
	}
	return false
}

// unavailable reports whether err means "the database cannot serve this
// now" rather than "this statement is wrong". A lost connection is one,
// whenever it is lost: before a statement was sent, while its answer was
// read, or during a COMMIT, when the client cannot know whether the
// server committed.
func unavailable(err error) bool {
	var netErr net.Error
	var myErr *mysql.MySQLError
	var liteErr *gosqlite.Error
	var pgErr *pgconn.PgError
	var pgConnErr *pgconn.ConnectError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.As(err, &netErr), pgconn.Timeout(err):
		// A deadline, or the network itself (reset, refused, broken pipe).
		return true
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		// The server closed the connection mid-message (pgx turns a bare
		// EOF into ErrUnexpectedEOF; other drivers may not).
		return true
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, mysql.ErrInvalidConn),
		errors.As(err, &pgConnErr), errors.Is(err, pgconn.ErrConnClosed):
		// The driver knows its connection is gone: before sending (bad
		// connection, pgx's "conn closed" after an earlier failure closed
		// it), or while reading (go-sql-driver's "invalid connection").
		return true
	case errors.Is(err, sql.ErrConnDone), errors.Is(err, sql.ErrTxDone):
		// database/sql closed the connection or rolled the transaction
		// back under us, which only a context ending does here: jwtauth
		// never uses a transaction after finishing it.
		return true
	case errors.As(err, &pgErr):
		switch {
		case strings.HasPrefix(pgErr.Code, "08"), strings.HasPrefix(pgErr.Code, "53"), strings.HasPrefix(pgErr.Code, "57"):
			// connection exception; too many connections, out of memory or
			// disk; shutdown, cancelled (statement_timeout)
			return true
		case pgErr.Code == "40001", pgErr.Code == "40P01", pgErr.Code == "55P03":
			// serialization failure, deadlock, lock not available
			return true
		}
	case errors.As(err, &myErr):
		switch myErr.Number {
		case 1040, 1053, 1205, 1213, 2002, 2003, 2006, 2013, 8002, 9007:
			// too many connections, shutdown, lock wait timeout, deadlock,
			// cannot connect, server gone; TiDB: retry failed, write conflict
			return true
		case 1317, 1927, 1969, 3024, 4031:
			// query interrupted (KILL QUERY), connection killed (MariaDB),
			// statement time limit (MariaDB, MySQL), disconnected for
			// inactivity (MySQL 8)
			return true
		}
	case errors.As(err, &liteErr):
		switch liteErr.Code() & 0xff {
		case 5, 6: // SQLITE_BUSY, SQLITE_LOCKED
			return true
		}
	}
	// A handle closed by Close is known by value (ErrClosed, see on and
	// deadline), not by database/sql's unexported error.
	return false
}

// storageFull reports whether err means the database had no room for a
// write: SQLITE_FULL (a full disk, or max_page_count); on MySQL and
// MariaDB a full table or disk, or a write that failed with ENOSPC (errno
// 28, only named in the message); on PostgreSQL disk_full.
func storageFull(err error) bool {
	var myErr *mysql.MySQLError
	var liteErr *gosqlite.Error
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &liteErr):
		return liteErr.Code()&0xff == 13 // SQLITE_FULL and its extended codes
	case errors.As(err, &pgErr):
		return pgErr.Code == "53100"
	case errors.As(err, &myErr):
		switch myErr.Number {
		case 1021, 1114: // ER_DISK_FULL, ER_RECORD_FILE_FULL ("The table is full")
			return true
		case 3, 1030: // ER_ERROR_ON_WRITE, ER_GET_ERRNO: the OS error is in the text
			return strings.Contains(myErr.Message, "Errcode: 28 ") ||
				strings.Contains(myErr.Message, "errno 28 ") ||
				strings.Contains(myErr.Message, "error 28 ")
		}
	}
	return false
}

// LogDriverTo sends the MySQL driver's own messages (a dropped idle
// connection, say) to log, instead of bare lines on stderr that a JSON log
// pipeline cannot parse. The driver keeps one logger per process, so the
// program's wiring calls this once.
func LogDriverTo(log *slog.Logger) {
	_ = mysql.SetLogger(driverLogger{log})
}

type driverLogger struct{ log *slog.Logger }

func (d driverLogger) Print(v ...any) {
	d.log.Warn("mysql driver", "message", strings.TrimSpace(fmt.Sprint(v...)))
}
