package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

// Each error the drivers return when the connection is lost, a statement
// is cut short or the storage is full leaves the store as ErrUnavailable
// (and ErrStorageFull for the last), whatever the engine. The shapes are
// those seen when cutting connections under load through storetest.Proxy.
func TestTranslate(t *testing.T) {
	reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	tests := []struct {
		name        string
		err         error
		unavailable bool
		full        bool
	}{
		{"pgx: connection already closed", &connLockErrorLike{pgconn.ErrConnClosed}, true, false},
		{"pgx: closed while deallocating", fmt.Errorf("failed to deallocate cached statement(s): %w", pgconn.ErrConnClosed), true, false},
		{"pgx: unexpected EOF", io.ErrUnexpectedEOF, true, false},
		{"pgx: failed to receive message", fmt.Errorf("failed to receive message: %w", io.ErrUnexpectedEOF), true, false},
		{"connection reset", reset, true, false},
		{"EOF", io.EOF, true, false},
		{"bad connection", driver.ErrBadConn, true, false},
		{"mysql: invalid connection", mysql.ErrInvalidConn, true, false},
		{"database/sql: connection done", sql.ErrConnDone, true, false},
		{"database/sql: transaction ended by its context", sql.ErrTxDone, true, false},
		{"deadline", fmt.Errorf("timeout: %w", context.DeadlineExceeded), true, false},
		{"postgres: terminated by administrator", &pgconn.PgError{Code: "57P01"}, true, false},
		{"postgres: disk full", &pgconn.PgError{Code: "53100"}, true, true},
		{"postgres: out of memory", &pgconn.PgError{Code: "53200"}, true, false},
		{"mysql: table is full", &mysql.MySQLError{Number: 1114, Message: "The table 'users' is full"}, true, true},
		{"mysql: disk full", &mysql.MySQLError{Number: 1021, Message: "Disk full (/tmp/x); waiting for someone to free some space..."}, true, true},
		{"mariadb: write error, no space", &mysql.MySQLError{Number: 3, Message: `Error writing file './test/users.ibd' (Errcode: 28 "No space left on device")`}, true, true},
		{"mysql: write error, no space", &mysql.MySQLError{Number: 3, Message: "Error writing file '/tmp/x' (OS errno 28 - No space left on device)"}, true, true},
		{"mariadb: engine error, no space", &mysql.MySQLError{Number: 1030, Message: `Got error 28 "No space left on device" from storage engine InnoDB`}, true, true},
		{"mysql: write error, permission", &mysql.MySQLError{Number: 3, Message: `Error writing file './x' (Errcode: 13 "Permission denied")`}, false, false},
		{"mariadb: connection killed", &mysql.MySQLError{Number: 1927, Message: "Connection was killed"}, true, false},
		{"mysql: query interrupted", &mysql.MySQLError{Number: 1317, Message: "Query execution was interrupted"}, true, false},
		{"mariadb: statement timeout", &mysql.MySQLError{Number: 1969, Message: "Query execution was interrupted (max_statement_time exceeded)"}, true, false},
		{"mysql: statement timeout", &mysql.MySQLError{Number: 3024, Message: "Query execution was interrupted, maximum statement execution time exceeded"}, true, false},
		{"mysql: disconnected for inactivity", &mysql.MySQLError{Number: 4031, Message: "The client was disconnected by the server because of inactivity."}, true, false},
		{"a wrong statement", &mysql.MySQLError{Number: 1064, Message: "You have an error in your SQL syntax"}, false, false},
		{"something else", errors.New("no such table: users"), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := translate(tt.err)
			if errors.Is(got, ErrUnavailable) != tt.unavailable {
				t.Errorf("translate(%v) = %v: unavailable %v, want %v", tt.err, got, !tt.unavailable, tt.unavailable)
			}
			if errors.Is(got, ErrStorageFull) != tt.full {
				t.Errorf("translate(%v) = %v: storage full %v, want %v", tt.err, got, !tt.full, tt.full)
			}
			if !errors.Is(got, tt.err) {
				t.Errorf("translate(%v) = %v lost the original", tt.err, got)
			}
			if again := translate(got); again.Error() != got.Error() {
				t.Errorf("translating twice gives %q, once %q", again, got)
			}
		})
	}
}

// connLockErrorLike has the shape of pgconn's unexported connLockError: an
// error whose chain ends in ErrConnClosed but is not it.
type connLockErrorLike struct{ err error }

func (e *connLockErrorLike) Error() string { return e.err.Error() }
func (e *connLockErrorLike) Unwrap() error { return e.err }
