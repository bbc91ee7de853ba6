package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"gorm.io/gorm"

	"jwtauth/internal/store"
	"jwtauth/internal/store/storetest"
)

// fillUsers creates users on db until a write fails, and returns that
// error and how many were stored.
func fillUsers(t *testing.T, db *gorm.DB, prefix string, max int) (int, error) {
	t.Helper()
	for i := range max {
		u := store.User{Username: fmt.Sprintf("%s%05d", prefix, i), Email: fmt.Sprintf("%s%05d@example.com", prefix, i), Password: "x"}
		if err := store.CreateUser(context.Background(), db, &u, []int64{1}); err != nil {
			return i, err
		}
	}
	t.Fatalf("%d users stored; the database never filled up", max)
	return max, nil
}

// SQLite at its max_page_count fails writes as on a full disk: the store
// says ErrStorageFull (an ErrUnavailable), Ping says so too, and both
// clear once a row is stored again.
func TestStorageFullSQLite(t *testing.T) {
	db := storetest.OpenSmallSQLite(t, 8)

	n, err := fillUsers(t, db, "fill", 5000)
	if !errors.Is(err, store.ErrStorageFull) || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("after %d users: %v, want ErrStorageFull and ErrUnavailable", n, err)
	}
	ctx := context.Background()
	if err := store.Ping(ctx, db); !errors.Is(err, store.ErrStorageFull) {
		t.Errorf("Ping = %v, want ErrStorageFull", err)
	}
	if err := db.Exec("DELETE FROM users WHERE username LIKE 'fill0%'").Error; err != nil {
		t.Fatal(err)
	}
	u := store.User{Username: "roomy", Email: "roomy@example.com", Password: "x"}
	if err := store.CreateUser(ctx, db, &u, []int64{1}); err != nil {
		t.Fatal(err)
	}
	if err := store.Ping(ctx, db); err != nil {
		t.Errorf("Ping after a row was stored = %v", err)
	}
}

// MariaDB/MySQL refusing a write for want of room ("The table is full",
// here a MEMORY table at max_heap_table_size, as a full tablespace does)
// makes Ping report ErrStorageFull: the store saw the refusal for what it
// is, whichever package ran the statement.
func TestStorageFullMySQL(t *testing.T) {
	storetest.RequireMySQL(t)
	db := storetest.Open(t, store.DriverMySQL)
	store.SetPool(db, store.Pool{MaxOpen: 1, MaxIdle: 1}) // the session variable below stays on this connection
	for _, stmt := range []string{
		"SET SESSION max_heap_table_size = 16384",
		"CREATE TABLE filler (id INT AUTO_INCREMENT PRIMARY KEY, pad CHAR(200)) ENGINE=MEMORY",
	} {
		if err := db.Exec(stmt).Error; err != nil {
			t.Fatal(err)
		}
	}
	var err error
	for range 10000 {
		if err = db.Exec("INSERT INTO filler (pad) VALUES ('x')").Error; err != nil {
			break
		}
	}
	if err == nil {
		t.Fatal("the MEMORY table never filled up")
	}
	ctx := context.Background()
	if perr := store.Ping(ctx, db); !errors.Is(perr, store.ErrStorageFull) || !errors.Is(perr, store.ErrUnavailable) {
		t.Errorf("after %v: Ping = %v, want ErrStorageFull", err, perr)
	}
	u := store.User{Username: "roomy", Email: "roomy@example.com", Password: "x"}
	if err := store.CreateUser(ctx, db, &u, []int64{1}); err != nil {
		t.Fatal(err)
	}
	if err := store.Ping(ctx, db); err != nil {
		t.Errorf("Ping after a row was stored = %v", err)
	}
}
