package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"jwtauth/internal/store"
	"jwtauth/internal/store/storetest"
)

// A stalled server (storetest.Proxy.Stall) holds a query until its
// context's deadline, which then ends it with ErrUnavailable; the half-used
// connection is dropped, so nothing it held is read by a later query. Once
// the server resumes, a query held without a deadline completes.
func TestStalledServer(t *testing.T) {
	storetest.RunServers(t, func(t *testing.T, driver string) {
		proxy, dsn := storetest.NewProxy(t, driver, storetest.NewDSN(t, driver))
		db := storetest.OpenDSN(t, driver, dsn)
		store.SetPool(db, store.Pool{MaxOpen: 1, MaxIdle: 1}) // one connection, reused if it may be
		if _, err := store.Roles(context.Background(), db); err != nil {
			t.Fatal(err)
		}

		proxy.Stall()
		for range 2 { // on the pooled connection, then on a new one
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			done := make(chan error, 1)
			go func() { _, err := store.Roles(ctx, db); done <- err }()
			select {
			case err := <-done:
				if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("query on a stalled server: %v, want ErrUnavailable from the deadline", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("query on a stalled server outlived its deadline")
			}
			cancel()
		}

		held := make(chan int, 1)
		go func() {
			var n int
			if err := db.Raw("SELECT 41").Scan(&n).Error; err != nil {
				t.Error(err)
			}
			held <- n
		}()
		select {
		case n := <-held:
			t.Fatalf("a query without a deadline returned %d while the server was stalled", n)
		case <-time.After(200 * time.Millisecond):
		}
		proxy.Resume()
		select {
		case n := <-held:
			if n != 41 {
				t.Errorf("held query = %d, want 41", n)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("held query did not complete after Resume")
		}
		var n int
		if err := db.Raw("SELECT 7").Scan(&n).Error; err != nil || n != 7 {
			t.Errorf("after Resume: %d, %v, want 7", n, err)
		}
	})
}
