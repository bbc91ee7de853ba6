package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// A DSN aimed at the wrong engine's port fails in each driver's own words,
// and slowly: the MySQL driver waits its whole read timeout for a greeting
// that a PostgreSQL server never sends, and pgx reports a MySQL greeting as
// "received unexpected message". probe asks the address which engine it is,
// the way each engine's clients begin, so that Open can say it in one line.

// probeWait is how long a server has to greet (MySQL) before probe asks
// as a PostgreSQL client would: a greeting takes one round trip.
const probeWait = time.Second

// engine names that probe reports; silent is a server that said nothing.
const (
	engineMySQL    = "MySQL/MariaDB"
	enginePostgres = "PostgreSQL"
	silent         = "silent"
)

// probe reports which engine listens at addr ("host:port" over TCP),
// waiting at most wait in all: a MySQL or MariaDB server greets first
// (protocol version 10, or an error packet); a PostgreSQL server says
// nothing until asked, and answers an SSLRequest with one byte, 'S' or
// 'N', then waits again. It returns silent when nothing came back, and ""
// when it cannot tell (nothing listens, or another protocol).
func probe(ctx context.Context, addr string, wait time.Duration) string {
	deadline := time.Now().Add(wait)
	d := net.Dialer{Deadline: deadline}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return ""
	}
	defer conn.Close()
	greeted := func(b []byte) bool { return b[3] == 0 && (b[4] == 10 || b[4] == 0xff) }
	buf := make([]byte, 5)
	conn.SetReadDeadline(earlier(deadline, time.Now().Add(probeWait)))
	n, err := io.ReadFull(conn, buf)
	switch {
	case err == nil && greeted(buf):
		return engineMySQL
	case n > 0 || !isTimeout(err):
		return ""
	}
	// Silent so far: ask as a PostgreSQL client would. A slow MySQL server
	// may greet now instead, and its greeting's first byte (a length) can
	// be 'S' or 'N' too: only a byte followed by silence is PostgreSQL's.
	conn.SetDeadline(deadline)
	if _, err := conn.Write([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}); err != nil {
		return ""
	}
	if _, err := io.ReadFull(conn, buf[:1]); err != nil {
		if isTimeout(err) {
			return silent
		}
		return ""
	}
	conn.SetReadDeadline(earlier(deadline, time.Now().Add(probeWait/4)))
	n, err = io.ReadFull(conn, buf[1:])
	switch {
	case err == nil && greeted(buf):
		return engineMySQL
	case n == 0 && isTimeout(err) && (buf[0] == 'S' || buf[0] == 'N'):
		return enginePostgres
	}
	return ""
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// wrongEngine returns an error saying that addr is served by another engine
// than want, or by a server that does not greet as MySQL does, and nil when
// it is want's or cannot be told.
func wrongEngine(ctx context.Context, addr, want string, wait time.Duration) error {
	got := probe(ctx, addr, wait)
	switch {
	case got == silent && want == engineMySQL:
		return fmt.Errorf("nothing at %s greeted as a %s server does within %s: is DB_DSN's address right?", addr, want, wait)
	case got == "" || got == silent || got == want:
		return nil
	}
	driver := DriverMySQL
	if got == enginePostgres {
		driver = DriverPostgres
	}
	return fmt.Errorf("%s answers at %s, not %s: set DB_DRIVER=%s and a %s DSN", got, addr, want, driver, got)
}

// pgWrongEngine replaces err, a failure to connect with a PostgreSQL DSN,
// with one saying which other engine answered there, if one did. pgx
// fails fast at a MySQL server, so it is asked only after a failure.
func pgWrongEngine(ctx context.Context, driverName, dsn string, err error) error {
	if addr := pgAddr(driverName, dsn); addr != "" {
		if wrong := wrongEngine(ctx, addr, enginePostgres, probeWait); wrong != nil {
			return wrong
		}
	}
	return err
}

// pgAddr is the TCP address a PostgreSQL DSN connects to first, or "" for
// another driver or a Unix socket.
func pgAddr(driverName, dsn string) string {
	if driverName != DriverPostgres {
		return ""
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil || strings.HasPrefix(cfg.Host, "/") {
		return ""
	}
	return net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
}
