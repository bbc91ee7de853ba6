package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"jwtauth/internal/store"
	"jwtauth/internal/store/storetest"
)

// On the original's database, migrated, a user's reset tokens are found
// by hash, used once, voided together, and go with the user; the email
// lookup ignores case.
func TestResetTokens(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		ctx := context.Background()
		db := legacyDB(t, driver)
		insert(t, db, "users", map[string]any{"id": 7, "username": "bob", "email": "Bob@Example.com", "password": "x"})
		if err := store.Migrate(ctx, db); err != nil {
			t.Fatal(err)
		}
		if u, err := store.FindUserByEmail(ctx, db, "bob@EXAMPLE.com"); err != nil || u.ID != 7 {
			t.Fatalf("FindUserByEmail = %+v, %v", u, err)
		}
		if _, err := store.FindUserByEmail(ctx, db, "bob@example.com "); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a trailing space found a user: %v", err)
		}

		now := time.Now().UTC().Truncate(time.Second)
		hashes := []string{strings.Repeat("a", 64), strings.Repeat("b", 64)}
		for _, h := range hashes {
			if err := store.CreateResetToken(ctx, db, &store.ResetToken{UserID: 7, TokenHash: h, ExpiresAt: now.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := store.CreateResetToken(ctx, db, &store.ResetToken{UserID: 7, TokenHash: hashes[0], ExpiresAt: now}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("a duplicate hash: %v, want ErrConflict", err)
		}
		first, err := store.FindResetToken(ctx, db, hashes[0])
		if err != nil || first.UserID != 7 || first.UsedAt != nil || !first.ExpiresAt.Equal(now.Add(time.Hour)) {
			t.Fatalf("FindResetToken = %+v, %v", first, err)
		}
		if _, err := store.FindResetToken(ctx, db, strings.ToUpper(hashes[0])); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the hash matched in another case: %v", err)
		}
		for i, want := range []bool{true, false} {
			if won, err := store.UseResetToken(ctx, db, first.ID, now); err != nil || won != want {
				t.Errorf("use %d: %v, %v; want %v", i+1, won, err, want)
			}
		}
		if err := store.VoidResetTokens(ctx, db, 7, now); err != nil {
			t.Fatal(err)
		}
		if second, err := store.FindResetToken(ctx, db, hashes[1]); err != nil || second.UsedAt == nil {
			t.Errorf("after voiding: %+v, %v", second, err)
		}
		if n, err := store.PruneResetTokens(ctx, db, now); err != nil || n != 0 {
			t.Errorf("pruned %d live tokens: %v", n, err)
		}
		if err := store.DeleteUser(ctx, db, 7); err != nil {
			t.Fatal(err)
		}
		if n := count(t, db, "passwordResetTokens"); n != 0 {
			t.Errorf("%d tokens outlived their user", n)
		}
	})
}
