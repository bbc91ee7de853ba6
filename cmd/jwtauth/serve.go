package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"jwtauth/internal/auth"
	"jwtauth/internal/config"
	"jwtauth/internal/connlimit"
	"jwtauth/internal/httpapi"
	"jwtauth/internal/mail"
	"jwtauth/internal/metrics"
	"jwtauth/internal/ratelimit"
	"jwtauth/internal/store"
)

// shutdownGrace is how long in-flight requests may take to finish once a
// stop is asked for.
const shutdownGrace = 15 * time.Second

// connRetryAfter is the Retry-After of a connection refused over a cap:
// connections come and go in about that time.
const connRetryAfter = 5 * time.Second

// versionString is set at build time (make build); version falls back to
// the module's build information.
var versionString string

func version() string {
	if versionString != "" {
		return versionString
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return info.Main.Version + " " + s.Value[:12]
			}
		}
		return info.Main.Version + " " + info.GoVersion
	}
	return "unknown"
}

// app is what every command that touches the database needs: the
// configuration, the log and the migrated database.
type app struct {
	cfg     config.Config
	log     *slog.Logger
	db      *gorm.DB
	closers []func()
}

// openDatabase reads the configuration, then opens, sizes and migrates the
// database: all that migrate does, and the first half of every other
// command. It builds nothing else (no signing key, no Redis client, no
// metrics), so a command that only needs the database touches nothing
// more. Logs go to logs.
func openDatabase(ctx context.Context, getenv func(string) string, logs io.Writer) (*app, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, log: newLogger(cfg, logs)}
	store.LogDriverTo(a.log)
	if a.db, err = store.Open(ctx, cfg.DBDriver, cfg.DBDSN); err != nil {
		return nil, err
	}
	a.onClose(func() { store.Close(a.db) })
	store.SetPool(a.db, store.Pool{MaxOpen: cfg.DBMaxOpenConns, MaxIdle: cfg.DBMaxIdleConns, MaxLifetime: cfg.DBConnMaxLifetime})
	if err := store.Migrate(ctx, a.db); err != nil {
		a.close()
		return nil, err
	}
	store.SetTimeout(a.db, cfg.DBTimeout)
	return a, nil
}

// onClose adds fn to what close undoes, in reverse order.
func (a *app) onClose(fn func()) { a.closers = append(a.closers, fn) }

// close releases what the command opened, the last opened first.
func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}

// authOptions are the service's settings as the configuration decides
// them, without what only a server has: keys that sign tokens, rate
// limits, metrics.
func (a *app) authOptions() auth.Options {
	cfg := a.cfg
	return auth.Options{
		PreviousSecrets:   cfg.JWTPreviousSecrets,
		AccessTokenTTL:    cfg.AccessTokenTTL,
		RefreshTokenTTL:   cfg.RefreshTokenTTL,
		SessionMaxAge:     cfg.SessionMaxAge,
		RefreshReuseGrace: cfg.RefreshReuseGrace,
		KeepRefreshToken:  !cfg.RefreshRotation,
		// The cookie gets a refresh token of its own only when the body
		// hands one out too.
		BrowserSessions:      !cfg.CookiesDisabled() && cfg.TokensInBody,
		BcryptCost:           cfg.BcryptCost,
		PasswordMinLength:    cfg.PasswordMinLength,
		SignupAllowRoles:     cfg.SignupAllowRoles,
		AuthzCacheTTL:        cfg.AuthzCacheTTL,
		HashWorkers:          cfg.HashWorkers,
		HashQueue:            cfg.HashQueue,
		HashMaxWait:          cfg.HashMaxWait,
		AllowCommonPasswords: !cfg.RejectCommonPasswords,
		ResetTokenTTL:        cfg.ResetTokenTTL,
		ResetURL:             pageURL(cfg, "/reset-password"),
		EmailVerification:    verification[cfg.EmailVerification],
		VerifyTokenTTL:       cfg.VerifyTokenTTL,
		VerifyURL:            pageURL(cfg, "/verify-email"),
		Logger:               a.log,
	}
}

// sessionCookie is the session cookie's part of the HTTP options.
func sessionCookie(cfg config.Config) httpapi.CookieOptions {
	sameSite := http.SameSiteStrictMode
	if cfg.SessionCookieSameSite == "lax" {
		sameSite = http.SameSiteLaxMode
	}
	return httpapi.CookieOptions{
		Name:            cfg.SessionCookieName,
		Domain:          cfg.SessionCookieDomain,
		AlwaysSecure:    cfg.SessionCookieSecure == "always",
		SameSite:        sameSite,
		TokensOutOfBody: !cfg.TokensInBody,
	}
}

// pageURL is the page at path that links in mail open: the frontend's
// when APP_URL is set, else the one jwtauth serves itself.
func pageURL(cfg config.Config, path string) string {
	if cfg.AppURL != "" {
		return cfg.AppURL + path
	}
	return cfg.PublicURL + path
}

// verification maps EMAIL_VERIFICATION's values to the service's modes.
var verification = map[string]auth.Verification{
	"off": auth.VerificationOff, "optional": auth.VerificationOptional, "required": auth.VerificationRequired,
}

// server is what serving adds to the database: the service with the keys
// that sign its tokens, rate limits (shared through Redis when REDIS_URL
// is set), metrics, and the mail sender with its templates.
type server struct {
	*app
	svc       *auth.Service
	limits    ratelimit.Store
	redis     *ratelimit.Redis // nil without REDIS_URL
	metrics   *metrics.Metrics
	mail      *mail.Sender
	templates *mail.Templates
}

// buildServer builds the service a server runs on a's database. What it
// opens, a.close closes.
func (a *app) buildServer(ctx context.Context) (*server, error) {
	cfg := a.cfg
	s := &server{app: a, metrics: metrics.New()}
	opts := a.authOptions()
	opts.Secret = cfg.JWTSecret
	if cfg.JWTSigning == "EdDSA" {
		key, created, err := auth.LoadOrCreateEd25519Key(cfg.JWTKeyFile)
		if err != nil {
			return nil, fmt.Errorf("JWT_KEY_FILE: %w", err)
		}
		if created {
			a.log.Info("generated an Ed25519 signing key", "file", cfg.JWTKeyFile)
		}
		opts.SigningKey = key
	} else if len(opts.Secret) == 0 {
		opts.Secret = throwawaySecret()
		a.log.Warn("JWT_SECRET is not set: using a random secret; tokens will not survive a restart")
	}
	if slices.Contains(cfg.SignupAllowRoles, auth.RoleAdmin) {
		a.log.Warn("SIGNUP_ALLOW_ROLES lets anyone sign up as admin: for demos only")
	}

	// Rate-limit counters: in process, or in Redis (falling back to
	// process memory while Redis is unreachable).
	s.limits = ratelimit.NewMemory(nil)
	if cfg.RedisURL != "" {
		ratelimit.LogRedisTo(a.log)
		rdb, err := ratelimit.NewRedis(cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		a.onClose(func() { rdb.Close() })
		if err := rdb.Ping(ctx); err != nil {
			a.log.Warn("Redis does not answer: rate limits count in process until it does", "error", err.Error())
		}
		s.limits = ratelimit.NewFallback(rdb, ratelimit.NewMemory(nil), a.log)
		s.redis = rdb
	}
	opts.SignInAccountAddressLimit = ratelimit.NewRule("signin-user-ip", cfg.SignInUserLimit, s.limits)
	opts.SignInAccountLimit = ratelimit.NewRule("signin-user", cfg.SignInAccountLimit, s.limits)
	opts.ForgotEmailLimit = ratelimit.NewRule("forgot-email", cfg.ForgotEmailLimit, s.limits)
	// Resending confirmation links is limited at the rates of reset
	// requests, counted apart.
	opts.ResendEmailLimit = ratelimit.NewRule("resend-email", cfg.ForgotEmailLimit, s.limits)
	opts.CountEvent = s.metrics.CountEvent
	if err := s.buildMail(); err != nil {
		return nil, err
	}
	opts.Templates, opts.MailWritten = s.templates, s.mail.Wake

	var err error
	if s.svc, err = auth.New(a.db, opts); err != nil {
		return nil, err
	}
	a.onClose(s.svc.Close) // before the database closes
	if err := s.svc.PrepareVerification(ctx); err != nil {
		return nil, fmt.Errorf("EMAIL_VERIFICATION: %w", err)
	}
	if sqlDB, err := a.db.DB(); err == nil {
		s.metrics.WatchDB(sqlDB, cfg.DBDriver)
	}
	s.metrics.WatchHashPool(s.svc.HashPoolStats)
	return s, nil
}

// buildMail loads the message templates and builds the sender of the
// outbox: over SMTP_URL, or, without it, into the log, with a warning
// that this is for development. The sender runs only in serve, never in
// migrate or create-admin.
func (s *server) buildMail() error {
	cfg := s.cfg
	var err error
	if s.templates, err = mail.LoadTemplates(cfg.MailTemplatesDir); err != nil {
		return fmt.Errorf("MAIL_TEMPLATES_DIR: %w", err)
	}
	var deliverer mail.Deliverer
	if cfg.SMTP.Host == "" {
		s.log.Warn("SMTP_URL is not set: mail is written to the log, not sent; for development only")
		deliverer = mail.NewLogDeliverer(s.log)
	} else if deliverer, err = mail.NewSMTP(cfg.SMTP, mail.SMTPOptions{Timeout: mail.SMTPTimeout}); err != nil {
		return fmt.Errorf("SMTP_URL: %w", err)
	}
	s.mail, err = mail.NewSender(s.db, deliverer, mail.SenderOptions{
		From:         cfg.MailFrom,
		PollInterval: mail.PollInterval,
		Lease:        mail.Lease,
		Batch:        mail.Batch,
		Retry:        mail.Retry,
		KeepSent:     mail.KeepSent,
		Now:          time.Now,
		Logger:       s.log,
	})
	if err != nil {
		return fmt.Errorf("MAIL_FROM: %w", err)
	}
	return nil
}

// throwawaySecret is an HS256 key for a process whose tokens need not outlive
// it.
func throwawaySecret() []byte {
	secret := make([]byte, 32)
	rand.Read(secret)
	return secret
}

// serve runs the HTTP server until ctx is cancelled, then shuts down
// gracefully: stop accepting, finish in-flight requests, close the database.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	err := parseFlags("serve", "jwtauth serve\n\nRuns the server, configured by the environment (see configs/jwtauth.env.example).\n", args, stdout, nil)
	if err != nil {
		return ignoreHelp(err)
	}
	base, err := openDatabase(ctx, getenv, stdout)
	if err != nil {
		return err
	}
	defer base.close()
	a, err := base.buildServer(ctx)
	if err != nil {
		return err
	}
	cfg, log := a.cfg, a.log
	// One processor more than the hashing workers (config.Config.Procs),
	// for as long as the server runs. Setting GOMAXPROCS stops Go from
	// following a container's CPU limit should it change later, as it
	// does when an operator sets GOMAXPROCS; the limit at start counts.
	if procs := runtime.GOMAXPROCS(0); cfg.Procs > procs {
		runtime.GOMAXPROCS(cfg.Procs)
		defer runtime.GOMAXPROCS(procs)
	}

	handler, err := httpapi.NewHandler(a.svc, httpapi.Options{
		CORSOrigins:    cfg.CORSOrigins,
		Cookie:         sessionCookie(cfg),
		TrustedProxies: cfg.TrustedProxies,
		SignInLimit:    ratelimit.NewRule("signin-ip", cfg.SignInIPLimit, a.limits),
		SignUpLimit:    ratelimit.NewRule("signup-ip", cfg.SignUpIPLimit, a.limits),
		RefreshLimit:   ratelimit.NewRule("refresh-ip", cfg.RefreshIPLimit, a.limits),
		ForgotLimit:    ratelimit.NewRule("forgot-ip", cfg.ForgotIPLimit, a.limits),
		ResendLimit:    ratelimit.NewRule("resend-ip", cfg.ForgotIPLimit, a.limits),
		Logger:         log,
		AccessLog:      cfg.AccessLog,
		RedisPing:      a.redisPing(),
		Metrics:        a.metrics,
		MetricsRoute:   cfg.MetricsAddr == "",
	})
	if err != nil {
		return fmt.Errorf("TRUSTED_PROXIES: %w", err)
	}
	// ReadTimeout bounds a whole request, body included, from its first
	// byte. net/http sets the connection's read deadline once per request
	// right after the headers in any case (conn.readRequest), to zero when
	// ReadTimeout is unset, so the setting adds no deadline call: the
	// header deadline's timer is moved instead of stopped, and stopped once
	// the body has been read (one timer stop per request more). The same
	// deadline bounds the up to 256 KB net/http drains after the handler
	// from a body it did not read (/api/test/all, 404, 405, a refused
	// token check), which would otherwise wait on a slow client for ever. Once
	// the body is read net/http lifts it, so a handler's own work is not
	// cut short. ReadHeaderTimeout and IdleTimeout bound idle connections
	// (slowloris, keep-alive). WriteTimeout bounds an answer, from the end
	// of the request's headers: answers are small, but a client that sends
	// request after request on one connection and reads none of the
	// answers would otherwise block the server's write, and hold the
	// connection and any shutdown, for ever. It costs one timer operation
	// per request.
	srv := &http.Server{
		Addr:              cfg.Addr,
		Handler:           handler,
		ReadTimeout:       cfg.HTTPReadTimeout,
		WriteTimeout:      cfg.HTTPWriteTimeout,
		ReadHeaderTimeout: min(5*time.Second, cfg.HTTPReadTimeout),
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, maxConns, err := listen(cfg, a.metrics, log)
	if err != nil {
		return err
	}
	log.Info("jwtauth listening", "addr", "http://"+displayAddr(ln.Addr()),
		"database", store.Describe(cfg.DBDriver, cfg.DBDSN), "cors_origins", strings.Join(cfg.CORSOrigins, ","), "version", version(),
		"max_conns", maxConns, "max_conns_per_ip", cfg.HTTPMaxConnsPerIP)
	// Everything the server runs with, defaults included and secrets
	// masked (config.Config.LogValue), the derived connection cap too.
	running := cfg
	running.HTTPMaxConns = maxConns
	log.Info("configuration", "config", running)
	if cfg.CookiesDisabled() {
		log.Warn(`CORS_ORIGINS="*": the session cookie is off; browser frontends that sign in with credentials (the cookie family) cannot sign in. List their origins to serve them`)
	}

	servers := []*http.Server{srv}
	listeners := []net.Listener{ln}
	// side adds a private listener next to the API's (metrics, profiler).
	side := func(variable, addr string, h http.Handler) error {
		sln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range listeners {
				l.Close()
			}
			return fmt.Errorf("%s: %w", variable, err)
		}
		servers = append(servers, &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second})
		listeners = append(listeners, sln)
		log.Info(variable+" listening", "addr", "http://"+displayAddr(sln.Addr()))
		return nil
	}
	if cfg.MetricsAddr != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", a.metrics.Handler())
		if err := side("METRICS_ADDR", cfg.MetricsAddr, mux); err != nil {
			return err
		}
	}
	if cfg.PprofAddr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		if err := side("PPROF_ADDR", cfg.PprofAddr, mux); err != nil {
			return err
		}
		log.Warn("the profiler is listening: keep PPROF_ADDR private")
	}

	go a.svc.WarmUp()
	go pruneSessions(ctx, a.svc, log)
	// The mail sender stops before the database closes (deferred calls
	// run last first): a message being sent is finished and recorded.
	mailCtx, stopMail := context.WithCancel(ctx)
	mailDone := make(chan struct{})
	go func() { a.mail.Run(mailCtx); close(mailDone) }()
	defer func() { stopMail(); <-mailDone }()
	serveErr := make(chan error, len(servers))
	for i, s := range servers {
		go func() { serveErr <- s.Serve(listeners[i]) }()
	}
	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	log.Info("shutting down: finishing in-flight requests")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	for _, s := range servers {
		if err := s.Shutdown(shutdownCtx); err != nil {
			// The grace is over: whatever still runs is cut, and the stop
			// asked for is still a clean one.
			log.Warn("connections still open after the shutdown grace were closed", "grace", shutdownGrace.String(), "error", err.Error())
			s.Close()
		}
	}
	for range servers {
		if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
	}
	log.Info("stopped")
	return nil
}

// listen opens the API's listener, capped in connections per client
// address and in total (returned), so that no client can take every file
// descriptor. The side listeners (metrics, profiler) are private and not
// capped.
func listen(cfg config.Config, m *metrics.Metrics, log *slog.Logger) (*connlimit.Listener, int, error) {
	total := cfg.HTTPMaxConns
	if total == 0 {
		total = config.DerivedMaxConns(openFileLimit())
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, 0, fmt.Errorf("listen: %w", err)
	}
	capped, err := connlimit.New(ln, connlimit.Options{
		PerAddress: cfg.HTTPMaxConnsPerIP,
		Total:      total,
		Exempt:     cfg.TrustedProxies,
		RetryAfter: connRetryAfter,
		Refused:    func(r connlimit.Reason) { m.CountRefusedConnection(string(r)) },
		Logger:     log,
	})
	if err != nil {
		ln.Close()
		return nil, 0, fmt.Errorf("TRUSTED_PROXIES: %w", err)
	}
	m.WatchConnections(capped.Open, string(connlimit.PerAddress), string(connlimit.Total))
	return capped, total, nil
}

func (a *server) redisPing() func(context.Context) error {
	if a.redis == nil {
		return nil
	}
	return a.redis.Ping
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
		if n, err := svc.PruneResetTokens(ctx); err != nil {
			log.Warn("pruning expired reset tokens failed", "error", err)
		} else if n > 0 {
			log.Info("pruned expired reset tokens", "count", n)
		}
		if n, err := svc.PruneVerifyTokens(ctx); err != nil {
			log.Warn("pruning expired verification tokens failed", "error", err)
		} else if n > 0 {
			log.Info("pruned expired verification tokens", "count", n)
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
