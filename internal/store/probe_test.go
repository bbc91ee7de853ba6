package store_test

import (
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"

	"jwtauth/internal/store"
	"jwtauth/internal/store/storetest"
)

// A DSN aimed at the other engine's port fails at once, saying which
// engine answered, instead of hanging for the driver's read timeout or
// reporting a protocol error nobody can act on.
func TestOpenNamesTheEngineThatAnswered(t *testing.T) {
	storetest.RequireMySQL(t)
	storetest.RequirePostgres(t)
	my, err := mysql.ParseDSN(os.Getenv(storetest.MySQLEnv))
	if err != nil {
		t.Fatal(err)
	}
	pg, err := pgx.ParseConfig(os.Getenv(storetest.PostgresEnv))
	if err != nil {
		t.Fatal(err)
	}
	pgAddr := net.JoinHostPort(pg.Host, strconv.Itoa(int(pg.Port)))
	tests := []struct {
		driver, dsn, want string
	}{
		{store.DriverMySQL, "root:@tcp(" + pgAddr + ")/test", "PostgreSQL answers at " + pgAddr + ", not MySQL/MariaDB: set DB_DRIVER=postgres"},
		{store.DriverPostgres, "postgres://root@" + my.Addr + "/test?sslmode=disable", "MySQL/MariaDB answers at " + my.Addr + ", not PostgreSQL: set DB_DRIVER=mysql"},
	}
	for _, tt := range tests {
		done := make(chan error, 1)
		go func() {
			db, err := store.Open(context.Background(), tt.driver, tt.dsn)
			if err == nil {
				store.Close(db)
			}
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open(%s, %q) = %v, want an error saying %q", tt.driver, tt.dsn, err, tt.want)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("Open(%s, %q) still connecting after 20s", tt.driver, tt.dsn)
		}
	}
}
