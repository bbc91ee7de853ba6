package store_test

import (
	"context"
	"testing"
	"time"

	"jwtauth/internal/store"
	"jwtauth/internal/store/storetest"
)

// On the original's database, migrated, a user has no not-before time
// until one is set; it is kept to the second and never moves back.
func TestTokensNotBefore(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		ctx := context.Background()
		db := legacyDB(t, driver)
		insert(t, db, "users", map[string]any{"id": 7, "username": "bob", "email": "bob@example.com", "password": "x"})
		if err := store.Migrate(ctx, db); err != nil {
			t.Fatal(err)
		}
		access := func() store.Access {
			t.Helper()
			a, err := store.TokenAccess(ctx, db, 7, 0, time.Now())
			if err != nil || !a.Found {
				t.Fatalf("TokenAccess = %+v, %v", a, err)
			}
			return a
		}
		if a := access(); a.TokensNotBefore != nil {
			t.Fatalf("a legacy user has a not-before time: %v", a.TokensNotBefore)
		}

		at := time.Date(2026, 11, 27, 12, 0, 0, 600_000_000, time.FixedZone("CET", 3600))
		for _, set := range []time.Time{at, at.Add(-time.Hour)} { // the second must not move it back
			if err := store.SetTokensNotBefore(ctx, db, 7, set); err != nil {
				t.Fatal(err)
			}
			if got := access().TokensNotBefore; got == nil || !got.Equal(at.Truncate(time.Second)) {
				t.Errorf("after setting %v: not before = %v, want %v", set, got, at.Truncate(time.Second))
			}
		}
		later := at.Add(90 * time.Second)
		if err := store.SetTokensNotBefore(ctx, db, 7, later); err != nil {
			t.Fatal(err)
		}
		if got := access().TokensNotBefore; got == nil || !got.Equal(later.Truncate(time.Second)) {
			t.Errorf("not before = %v, want %v", got, later.Truncate(time.Second))
		}
		// Migrating again keeps it.
		if err := store.Migrate(ctx, db); err != nil {
			t.Fatal(err)
		}
		if got := access().TokensNotBefore; got == nil || !got.Equal(later.Truncate(time.Second)) {
			t.Errorf("after a second migration: not before = %v", got)
		}
	})
}
