package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"jwtauth/internal/store"
	"jwtauth/internal/store/storetest"
)

// On the original's database, migrated, an account starts unverified;
// its verification tokens are found by hash, used once, voided together,
// pruned, and go with the user; proving an address another account holds
// is a conflict.
func TestVerifyTokens(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		ctx := context.Background()
		db := legacyDB(t, driver)
		insert(t, db, "users", map[string]any{"id": 7, "username": "bob", "email": "Bob@Example.com", "password": "x"})
		insert(t, db, "users", map[string]any{"id": 8, "username": "eve", "email": "eve@example.com", "password": "x"})
		if err := store.Migrate(ctx, db); err != nil {
			t.Fatal(err)
		}
		u, err := store.GetUser(ctx, db, 7)
		if err != nil || u.EmailVerifiedAt != nil {
			t.Fatalf("a legacy account: %+v, %v; want it unverified", u, err)
		}

		now := time.Now().UTC().Truncate(time.Second)
		hashes := []string{strings.Repeat("a", 64), strings.Repeat("b", 64)}
		for i, h := range hashes {
			tok := store.VerifyToken{UserID: 7, Email: []string{"Bob@Example.com", "bob@new.example"}[i], TokenHash: h, ExpiresAt: now.Add(time.Hour)}
			if err := store.CreateVerifyToken(ctx, db, &tok); err != nil {
				t.Fatal(err)
			}
		}
		if err := store.CreateVerifyToken(ctx, db, &store.VerifyToken{UserID: 7, Email: "x@example.com", TokenHash: hashes[0], ExpiresAt: now}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("a duplicate hash: %v, want ErrConflict", err)
		}
		first, err := store.FindVerifyToken(ctx, db, hashes[0])
		if err != nil || first.UserID != 7 || first.Email != "Bob@Example.com" || first.UsedAt != nil || !first.ExpiresAt.Equal(now.Add(time.Hour)) {
			t.Fatalf("FindVerifyToken = %+v, %v", first, err)
		}
		for i, want := range []bool{true, false} {
			if won, err := store.UseVerifyToken(ctx, db, first.ID, now); err != nil || won != want {
				t.Errorf("use %d: %v, %v; want %v", i+1, won, err, want)
			}
		}
		if err := store.VoidVerifyTokens(ctx, db, 7, now); err != nil {
			t.Fatal(err)
		}
		if second, err := store.FindVerifyToken(ctx, db, hashes[1]); err != nil || second.UsedAt == nil {
			t.Errorf("after voiding: %+v, %v", second, err)
		}

		if err := store.SetVerifiedEmail(ctx, db, 7, "EVE@example.com", now); !errors.Is(err, store.ErrConflict) {
			t.Errorf("taking eve's address: %v, want ErrConflict", err)
		}
		if err := store.SetVerifiedEmail(ctx, db, 7, "bob@new.example", now); err != nil {
			t.Fatal(err)
		}
		u, err = store.GetUser(ctx, db, 7)
		if err != nil || u.Email != "bob@new.example" || u.EmailKey != "bob@new.example" || u.EmailVerifiedAt == nil || !u.EmailVerifiedAt.Equal(now) {
			t.Errorf("after SetVerifiedEmail: %+v, %v", u, err)
		}
		if err := store.SetVerifiedEmail(ctx, db, 99, "nobody@example.com", now); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("an unknown user: %v, want ErrNotFound", err)
		}

		if n, err := store.PruneVerifyTokens(ctx, db, now); err != nil || n != 0 {
			t.Errorf("prune before expiry: %d, %v", n, err)
		}
		if n, err := store.PruneVerifyTokens(ctx, db, now.Add(2*time.Hour)); err != nil || n != 2 {
			t.Errorf("prune after expiry: %d, %v; want 2", n, err)
		}
		if err := store.CreateVerifyToken(ctx, db, &store.VerifyToken{UserID: 7, Email: "bob@new.example", TokenHash: hashes[0], ExpiresAt: now}); err != nil {
			t.Fatal(err)
		}
		if err := store.Transaction(ctx, db, func(tx *gorm.DB) error { return store.DeleteUser(ctx, tx, 7) }); err != nil {
			t.Fatal(err)
		}
		if n := count(t, db, "emailVerificationTokens"); n != 0 {
			t.Errorf("%d tokens outlived their user", n)
		}
	})
}

// The moment verification became required is recorded once, by the
// first instance that starts so; later starts read it; forgetting it
// lets the next start record a new one.
func TestVerificationRequiredSince(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		ctx := context.Background()
		db := storetest.Open(t, driver)
		first := time.Date(2026, 5, 1, 10, 0, 0, 123456000, time.UTC)
		for i, at := range []time.Time{first, first.Add(time.Hour)} {
			got, err := store.VerificationRequiredSince(ctx, db, at)
			if err != nil || !got.Equal(first) {
				t.Errorf("start %d: %v, %v; want %v", i+1, got, err, first)
			}
		}
		for range 2 {
			if err := store.ForgetVerificationRequired(ctx, db); err != nil {
				t.Fatal(err)
			}
		}
		later := first.Add(48 * time.Hour)
		if got, err := store.VerificationRequiredSince(ctx, db, later); err != nil || !got.Equal(later) {
			t.Errorf("after forgetting: %v, %v; want %v", got, err, later)
		}
	})
}
