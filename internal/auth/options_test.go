package auth

import (
	"strings"
	"testing"
	"time"

	"jwtauth/internal/bcrypt"
)

// New fills in nothing: a value it cannot run with is refused with an
// error naming it, never quietly replaced by a default of its own.
func TestNewRefusesWhatItCannotRunWith(t *testing.T) {
	valid := func() Options {
		return Options{
			Secret: []byte(strings.Repeat("k", 32)), AccessTokenTTL: time.Hour, RefreshTokenTTL: time.Hour,
			SessionMaxAge: time.Hour, BcryptCost: bcrypt.MinCost, PasswordMinLength: 8,
			HashWorkers: 1, HashQueue: 0, HashMaxWait: time.Second, ResetTokenTTL: 30 * time.Minute, VerifyTokenTTL: 24 * time.Hour,
		}
	}
	if _, err := New(nil, valid()); err != nil {
		t.Fatalf("valid options (no queue): %v", err)
	}
	tests := []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"no hash workers", func(o *Options) { o.HashWorkers = 0 }, "hash workers must be at least 1"},
		{"negative hash queue", func(o *Options) { o.HashQueue = -1 }, "hash queue must not be negative"},
		{"no hash wait", func(o *Options) { o.HashMaxWait = 0 }, "hash max wait must be positive"},
		{"no password length", func(o *Options) { o.PasswordMinLength = 0 }, "password min length must be at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := valid()
			tt.edit(&opts)
			if _, err := New(nil, opts); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want an error saying %q", err, tt.want)
			}
		})
	}
}
