package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"jwtauth/internal/bcrypt"
	"jwtauth/internal/store"
	"jwtauth/internal/store/storetest"
)

// The rules of the service, checked on the service itself over a real
// database on every engine; the HTTP tests check the same rules through
// the API.

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: %v, want %v", what, err, want)
	}
}

// The admin role is never left empty: not by demoting, not by deleting,
// not by two admins demoting each other at the same moment.
func TestLastAdminRule(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, driver string) {
		t.Parallel()
		svc, _ := newTestService(t, driver)
		ctx := context.Background()
		a, err := svc.CreateAdmin(ctx, "first", "first@example.com", "password-1")
		if err != nil {
			t.Fatal(err)
		}
		b, err := svc.CreateAdmin(ctx, "second", "second@example.com", "password-1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.SetRoles(ctx, Principal{UserID: a}, b, []string{RoleUser}); err != nil {
			t.Fatalf("demoting one of two admins: %v", err)
		}
		_, err = svc.SetRoles(ctx, Principal{UserID: a}, a, []string{RoleUser, RoleModerator})
		wantErr(t, "demoting the last admin", err, ErrLastAdmin)
		wantErr(t, "deleting the last admin", svc.DeleteUser(ctx, Principal{UserID: a}, a), ErrLastAdmin)
		if _, err := svc.SetRoles(ctx, Principal{UserID: a}, a, []string{RoleAdmin}); err != nil {
			t.Errorf("an admin keeping the role: %v", err)
		}

		// Two admins demote each other at once: one wins, one is refused.
		if _, err := svc.SetRoles(ctx, Principal{UserID: a}, b, []string{RoleUser, RoleAdmin}); err != nil {
			t.Fatal(err)
		}
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i, pair := range [][2]int64{{a, b}, {b, a}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = svc.SetRoles(ctx, Principal{UserID: pair[0]}, pair[1], []string{RoleUser})
			}()
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("two admins demoting each other: %v and %v, want exactly one refused", errs[0], errs[1])
		}
		for _, err := range errs {
			if err != nil && !errors.Is(err, ErrLastAdmin) {
				t.Errorf("the refused demotion: %v, want ErrLastAdmin", err)
			}
		}
		page, err := svc.ListUsers(ctx, ListQuery{Size: 10})
		if err != nil {
			t.Fatal(err)
		}
		admins := 0
		for _, u := range page.Users {
			if strings.Contains(fmt.Sprint(u.Roles), RoleAdmin) {
				admins++
			}
		}
		if admins != 1 {
			t.Errorf("%d admins left, want 1", admins)
		}
	})
}

// A refresh token is exchanged once; within the grace window a second
// exchange (another tab) is honoured, after it the replay revokes the
// whole session, the newest token included.
func TestRefreshReplayAndGraceWindow(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, driver string) {
		t.Parallel()
		svc, clock := newTestService(t, driver)
		ctx := context.Background()
		if err := svc.SignUp(ctx, SignUpInput{Username: "tabs", Email: "tabs@example.com", Password: "password-1"}); err != nil {
			t.Fatal(err)
		}
		in, err := svc.SignIn(ctx, "tabs", "password-1")
		if err != nil {
			t.Fatal(err)
		}
		first, err := svc.Refresh(ctx, in.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(5 * time.Second)
		second, err := svc.Refresh(ctx, in.RefreshToken) // another tab, within the grace window
		if err != nil {
			t.Fatalf("second exchange within the grace window: %v", err)
		}
		if second.RefreshToken == first.RefreshToken {
			t.Error("both tabs were handed the same refresh token")
		}
		clock.Advance(6 * time.Second)
		_, err = svc.Refresh(ctx, in.RefreshToken)
		wantErr(t, "replay after the grace window", err, ErrRefreshReused)
		_, err = svc.Refresh(ctx, second.RefreshToken)
		wantErr(t, "the newest token of the replayed session", err, ErrRefreshRevoked)
		_, err = svc.Authenticate(ctx, first.AccessToken)
		wantErr(t, "an access token of the replayed session", err, ErrTokenInvalid)
	})
}

// Concurrent signups of one name, in any letter case, make one account.
func TestConcurrentSignUps(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, driver string) {
		t.Parallel()
		svc, _ := newTestService(t, driver)
		ctx := context.Background()
		const n = 12
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				name := "racer"
				if i%2 == 1 {
					name = "RACER"
				}
				errs[i] = svc.SignUp(ctx, SignUpInput{Username: name, Email: fmt.Sprintf("racer%d@example.com", i), Password: "password-1"})
			}()
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, ErrUsernameTaken):
				t.Errorf("a losing signup: %v, want ErrUsernameTaken", err)
			}
		}
		if won != 1 {
			t.Errorf("%d of %d concurrent signups of one name succeeded, want 1", won, n)
		}
	})
}

// A correct signin re-hashes a password stored at a lower cost (the
// original's bcryptjs hashes are cost 8) at the configured cost; a wrong
// one changes nothing.
func TestSignInUpgradesTheHash(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, driver string) {
		t.Parallel()
		svc, _ := newTestService(t, driver, func(o *Options) { o.BcryptCost = bcrypt.MinCost + 1 })
		ctx := context.Background()
		addUser(t, svc, "legacy", "password-1")
		cost := func() int {
			got, err := store.FindUserByUsername(ctx, svc.db, "legacy")
			if err != nil {
				t.Fatal(err)
			}
			c, err := bcrypt.Cost([]byte(got.Password))
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		_, err := svc.SignIn(ctx, "legacy", "wrong-password")
		wantErr(t, "wrong password", err, ErrInvalidPassword)
		if c := cost(); c != bcrypt.MinCost {
			t.Errorf("after a wrong password the cost is %d, want it unchanged", c)
		}
		if _, err := svc.SignIn(ctx, "legacy", "password-1"); err != nil {
			t.Fatal(err)
		}
		if c := cost(); c != bcrypt.MinCost+1 {
			t.Errorf("after a signin the cost is %d, want %d", c, bcrypt.MinCost+1)
		}
		if _, err := svc.SignIn(ctx, "legacy", "password-1"); err != nil {
			t.Errorf("signin with the upgraded hash: %v", err)
		}
	})
}

// Roles may be given as signin lists them ("ROLE_MODERATOR") as well as by
// name ("moderator"), at signup and in the admin API alike.
func TestRolesInEitherSpelling(t *testing.T) {
	t.Parallel()
	svc, _ := newTestService(t, "sqlite", func(o *Options) { o.SignupAllowRoles = []string{RoleUser, RoleModerator} })
	ctx := context.Background()
	err := svc.SignUp(ctx, SignUpInput{Username: "morgan", Email: "morgan@example.com", Password: "password-1",
		Roles: []string{"ROLE_MODERATOR", "user"}})
	if err != nil {
		t.Fatalf("signup with ROLE_MODERATOR: %v", err)
	}
	acc, err := svc.SignIn(ctx, "morgan", "password-1")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(acc.Roles, ","); got != "user,moderator" {
		t.Errorf("roles after signup = %s, want user,moderator", got)
	}
	err = svc.SignUp(ctx, SignUpInput{Username: "mallory", Email: "mallory@example.com", Password: "password-1",
		Roles: []string{"ROLE_ADMIN"}})
	if err == nil || !strings.Contains(err.Error(), "'admin' cannot be self-assigned") {
		t.Errorf("signup as ROLE_ADMIN: %v, want the admin role refused", err)
	}
	admin, err := svc.CreateAdmin(ctx, "chief", "chief@example.com", "password-1")
	if err != nil {
		t.Fatal(err)
	}
	info, err := svc.SetRoles(ctx, Principal{UserID: admin}, acc.ID, []string{"ROLE_ADMIN", "ROLE_USER"})
	if err != nil {
		t.Fatalf("SetRoles with ROLE_ names: %v", err)
	}
	if got := strings.Join(info.Roles, ","); got != "user,admin" {
		t.Errorf("roles after SetRoles = %s, want user,admin", got)
	}
	if _, err := svc.SetRoles(ctx, Principal{UserID: admin}, acc.ID, []string{"ROLE_OWNER"}); err == nil {
		t.Error("SetRoles with ROLE_OWNER succeeded")
	}
	// The last admin keeping the role, in the other spelling, keeps it.
	if err := svc.DeleteUser(ctx, Principal{UserID: admin}, acc.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetRoles(ctx, Principal{UserID: admin}, admin, []string{"ROLE_ADMIN"}); err != nil {
		t.Errorf("the last admin given ROLE_ADMIN: %v", err)
	}
}
