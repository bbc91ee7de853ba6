package store_test

import (
	"context"
	"errors"
	"testing"

	"gorm.io/gorm"

	"jwtauth/internal/store"
	"jwtauth/internal/store/storetest"
)

// A handle the program closed (as at shutdown) answers every call with
// ErrClosed, an ErrUnavailable, known by value rather than by the text of
// database/sql's unexported error: a statement, a transaction and a ping.
func TestCallsAfterClose(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		db := storetest.Open(t, driver)
		ctx := context.Background()
		if err := store.Close(db); err != nil {
			t.Fatal(err)
		}
		_, err := store.FindUserByUsername(ctx, db, "nobody")
		wantClosed(t, "find user", err)
		wantClosed(t, "transaction", store.Transaction(ctx, db, func(tx *gorm.DB) error {
			t.Error("a transaction began on a closed handle")
			return nil
		}))
		wantClosed(t, "ping", store.Ping(ctx, db))
	})
}

func wantClosed(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrClosed) || !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("%s after Close: %v, want ErrClosed and ErrUnavailable", what, err)
	}
}
