// Command jwtauth is a JWT authentication and role-based authorization
// server: signup, signin, access tokens and role-guarded endpoints, on
// embedded SQLite by default or on MySQL/MariaDB.
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"jwtauth/internal/auth"
	"jwtauth/internal/config"
	"jwtauth/internal/httpapi"
	"jwtauth/internal/ratelimit"
	"jwtauth/internal/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "jwtauth:", err)
		os.Exit(1)
	}
}

// shutdownGrace is how long in-flight requests may take to finish once a
// stop is asked for.
const shutdownGrace = 15 * time.Second

// run wires jwtauth together and serves until ctx is cancelled, then shuts
// down gracefully: stop accepting, finish in-flight requests, close the
// database.
func run(ctx context.Context, _ []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stdout)
	store.LogDriverTo(log)

	secret := cfg.JWTSecret
	var signingKey ed25519.PrivateKey
	if cfg.JWTSigning == "EdDSA" {
		var created bool
		if signingKey, created, err = auth.LoadOrCreateEd25519Key(cfg.JWTKeyFile); err != nil {
			return fmt.Errorf("JWT_KEY_FILE: %w", err)
		}
		if created {
			log.Info("generated an Ed25519 signing key", "file", cfg.JWTKeyFile)
		}
	} else if len(secret) == 0 {
		secret = make([]byte, 32)
		rand.Read(secret)
		log.Warn("JWT_SECRET is not set: using a random secret; tokens will not survive a restart")
	}

	db, err := store.Open(ctx, cfg.DBDriver, cfg.DBDSN)
	if err != nil {
		return err
	}
	defer store.Close(db)
	if err := store.Migrate(ctx, db); err != nil {
		return err
	}

	// Rate-limit counters: in process, or in Redis (falling back to
	// process memory while Redis is unreachable).
	var limits ratelimit.Store = ratelimit.NewMemory(nil)
	if cfg.RedisURL != "" {
		rdb, err := ratelimit.NewRedis(cfg.RedisURL)
		if err != nil {
			return fmt.Errorf("REDIS_URL: %w", err)
		}
		defer rdb.Close()
		if err := rdb.Ping(ctx); err != nil {
			log.Warn("Redis does not answer: rate limits count in process until it does", "error", err.Error())
		}
		limits = ratelimit.NewFallback(rdb, ratelimit.NewMemory(nil), log)
	}

	svc, err := auth.New(db, auth.Options{
		Secret:               secret,
		PreviousSecrets:      cfg.JWTPreviousSecrets,
		SigningKey:           signingKey,
		AccessTokenTTL:       cfg.AccessTokenTTL,
		RefreshTokenTTL:      cfg.RefreshTokenTTL,
		SessionMaxAge:        cfg.SessionMaxAge,
		RefreshReuseGrace:    cfg.RefreshReuseGrace,
		KeepRefreshToken:     !cfg.RefreshRotation,
		BcryptCost:           cfg.BcryptCost,
		PasswordMinLength:    cfg.PasswordMinLength,
		SignupAllowRoles:     cfg.SignupAllowRoles,
		AuthzCacheTTL:        cfg.AuthzCacheTTL,
		HashWorkers:          cfg.HashWorkers,
		HashQueue:            cfg.HashQueue,
		HashMaxWait:          cfg.HashMaxWait,
		SignInAccountLimit:   ratelimit.NewRule("signin-user", cfg.SignInUserLimit, limits),
		AllowCommonPasswords: !cfg.RejectCommonPasswords,
		Logger:               log,
	})
	if err != nil {
		return err
	}
	go svc.WarmUp()
	go pruneSessions(ctx, svc, log)

	handler, err := httpapi.NewHandler(svc, httpapi.Options{
		CORSOrigins:    cfg.CORSOrigins,
		TrustedProxies: cfg.TrustedProxies,
		SignInLimit:    ratelimit.NewRule("signin-ip", cfg.SignInIPLimit, limits),
		SignUpLimit:    ratelimit.NewRule("signup-ip", cfg.SignUpIPLimit, limits),
		RefreshLimit:   ratelimit.NewRule("refresh-ip", cfg.RefreshIPLimit, limits),
		Logger:         log,
	})
	if err != nil {
		return fmt.Errorf("TRUSTED_PROXIES: %w", err)
	}
	srv := &http.Server{
		Addr:              cfg.Addr,
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	log.Info("jwtauth listening", "addr", "http://"+displayAddr(ln.Addr()),
		"database", store.Describe(cfg.DBDriver, cfg.DBDSN))

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	log.Info("shutting down: finishing in-flight requests")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopped")
	return nil
}

// pruneSessions deletes long-ended sessions every hour, so that the session
// tables hold live sessions and a day of history, not every signin ever.
func pruneSessions(ctx context.Context, svc *auth.Service, log *slog.Logger) {
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		if n, err := svc.PruneSessions(ctx); err != nil {
			log.Warn("pruning ended sessions failed", "error", err)
		} else if n > 0 {
			log.Info("pruned ended sessions", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// displayAddr turns ":8080" into "localhost:8080", an address one can paste.
func displayAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return a.String()
	}
	return fmt.Sprintf("localhost:%d", tcp.Port)
}
