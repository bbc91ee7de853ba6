// Package config reads jwtauth's settings from the environment, decides
// every default (nobody else re-defaults a setting) and checks them once,
// at start, so that a bad value stops the server with a message naming the
// variable instead of failing later on a request. It also describes the
// settings in effect, secrets masked, for the startup log.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"time"

	"jwtauth/internal/mail"
	"jwtauth/internal/ratelimit"
)

// Config is every setting jwtauth reads from its environment.
type Config struct {
	// Addr is the host:port the HTTP server listens on (ADDR, or ":"+PORT).
	Addr string
	// DBDriver is "sqlite", "mysql" or "postgres".
	DBDriver string
	// DBDSN is the driver's data source name (for sqlite, a file path).
	DBDSN string
	// DBMaxOpenConns, DBMaxIdleConns and DBConnMaxLifetime size the pool.
	DBMaxOpenConns, DBMaxIdleConns int
	DBConnMaxLifetime              time.Duration
	// DBTimeout bounds each call into the database (a statement or a
	// transaction); past it the request answers 503.
	DBTimeout time.Duration
	// JWTSecret signs access tokens (HS256); empty means "generate one at
	// start" unless JWTSigning is EdDSA.
	JWTSecret []byte
	// JWTPreviousSecrets still verify tokens signed before a secret rotation.
	JWTPreviousSecrets [][]byte
	// JWTSigning is the algorithm of new access tokens: "HS256" or "EdDSA".
	JWTSigning string
	// JWTKeyFile holds the Ed25519 private key (PKCS#8 PEM) when JWTSigning
	// is EdDSA; it is generated on first start when absent.
	JWTKeyFile string
	// AccessTokenTTL is how long an access token stays valid.
	AccessTokenTTL time.Duration
	// RefreshTokenTTL is how long a refresh token stays valid.
	RefreshTokenTTL time.Duration
	// SessionMaxAge caps a session however often it is refreshed.
	SessionMaxAge time.Duration
	// RefreshReuseGrace is how long after a refresh token is exchanged it may
	// be exchanged again (two tabs refreshing at once) before a reuse counts
	// as a replay.
	RefreshReuseGrace time.Duration
	// RefreshRotation hands out a new refresh token on every refresh and
	// detects replays of old ones; off hands back the same token, for the
	// original refresh-token variant's frontends, which keep the first one.
	RefreshRotation bool
	// BcryptCost is the cost of new password hashes; older, cheaper hashes
	// are upgraded to it on signin.
	BcryptCost int
	// PasswordMinLength is the fewest characters a new password may have.
	PasswordMinLength int
	// CORSOrigins are the browser origins allowed to call the API; ["*"]
	// allows any origin (without credentials).
	CORSOrigins []string
	// SessionCookieName names the browser session cookie, which carries a
	// signin's tokens HttpOnly for the cookie family of frontends.
	SessionCookieName string
	// SessionCookieDomain, when set, shares the cookie with that domain's
	// subdomains; empty keeps it to the API's host.
	SessionCookieDomain string
	// SessionCookieSecure is "auto" (Secure when the request came over
	// HTTPS, directly or per a trusted proxy's X-Forwarded-Proto) or
	// "always".
	SessionCookieSecure string
	// SessionCookieSameSite is "strict" or "lax".
	SessionCookieSameSite string
	// TokensInBody puts the tokens in the signin and refreshtoken bodies
	// (the header family needs them); off is the strict mode, where only
	// the HttpOnly cookie carries them.
	TokensInBody bool
	// SignupAllowRoles are the roles a user may ask for at signup.
	SignupAllowRoles []string
	// AuthzCacheTTL is how long a user's roles may be served from memory;
	// 0 reads the database on every request.
	AuthzCacheTTL time.Duration
	// TrustedProxies are the reverse proxies (addresses or CIDRs) whose
	// X-Forwarded-For is believed.
	TrustedProxies []string
	// RedisURL, when set, shares rate-limit counters between instances.
	RedisURL string
	// Rate limits: signin per client address, per account from one
	// address and per account from all addresses; signup and refresh per
	// client address.
	SignInIPLimit, SignInUserLimit, SignInAccountLimit, SignUpIPLimit, RefreshIPLimit ratelimit.Rate
	// ForgotIPLimit limits password-reset requests per client address;
	// ForgotEmailLimit limits the reset mails one address is sent.
	ForgotIPLimit, ForgotEmailLimit ratelimit.Rate
	// ResetTokenTTL is how long a password-reset link works.
	ResetTokenTTL time.Duration
	// EmailVerification is "off" (the original's behaviour: no mail at
	// signup), "optional" (signup mails a confirmation link, nothing
	// waits for it) or "required" (accounts created since it was first
	// required cannot sign in until their address is confirmed).
	EmailVerification string
	// VerifyTokenTTL is how long an email-confirmation link works.
	VerifyTokenTTL time.Duration
	// AppURL, when set, is the frontend that serves the pages links in
	// mail point at (APP_URL/reset-password?token=...).
	AppURL string
	// PublicURL is jwtauth's own address as users reach it, for links to
	// the pages it serves when AppURL is unset; by default derived from
	// Addr (http://localhost:PORT).
	PublicURL string
	// HashWorkers, HashQueue and HashMaxWait bound password hashing:
	// workers at once (HASH_WORKERS=0, the default, is one per core:
	// GOMAXPROCS at Load), how many may wait (0: none), how long.
	HashWorkers, HashQueue int
	HashMaxWait            time.Duration
	// Procs is the processors Go runs goroutines on (GOMAXPROCS) while the
	// server runs: GOMAXPROCS as Go set it, raised to HashWorkers+1. A
	// processor that no hash can take sits in the network poller when
	// idle, so a request waiting on the database (a token check on
	// MariaDB or PostgreSQL) runs when the reply arrives. With every
	// processor hashing, Go looks at the network only when its monitor
	// comes round, about every 10 ms, for each database round trip.
	Procs int
	// RejectCommonPasswords refuses new passwords on the common-password list.
	RejectCommonPasswords bool
	// HTTPReadTimeout bounds how long a client may take to send a whole
	// request, headers and body, from its first byte.
	HTTPReadTimeout time.Duration
	// HTTPWriteTimeout bounds how long an answer may take, from the end of
	// the request's headers until it is written: a client that stops
	// reading its answers is cut off after it.
	HTTPWriteTimeout time.Duration
	// HTTPMaxConnsPerIP caps the API connections of one client address
	// (IPv4, or IPv6 /64); TrustedProxies are exempt. 0: no cap.
	HTTPMaxConnsPerIP int
	// HTTPMaxConns caps all API connections; 0 means DerivedMaxConns of the
	// process's open-file limit, which only the server knows.
	HTTPMaxConns int
	// MetricsAddr, when set, serves /metrics on a listener of its own
	// (host:port) instead of the API's.
	MetricsAddr string
	// AccessLog writes one log line per request.
	AccessLog bool
	// PprofAddr, when set, serves Go's profiler (net/http/pprof) on this
	// host:port, for diagnosing a live server; keep it private.
	PprofAddr string
	// SMTP is the server mail is handed to (SMTP_URL); a zero Server (no
	// Host) writes mail to the log instead, for development.
	SMTP mail.Server
	// MailFrom is the From of every message, an address net/mail parses.
	MailFrom string
	// MailTemplatesDir, when set, holds message templates that replace
	// the shipped ones of the same name.
	MailTemplatesDir string
	// LogLevel is the lowest level written to the log.
	LogLevel slog.Level
	// LogFormat is "text" or "json".
	LogFormat string
}

// Defaults of the settings, in the units the environment uses.
const (
	DefaultPort        = "8080"
	DefaultSQLiteDSN   = "data/jwtauth.db"
	DefaultCORSOrigins = "http://localhost:8081"
	// DefaultSessionCookieName is jwtauth's own name for its cookie: the
	// sibling's frontends never read theirs, so none needs its name.
	DefaultSessionCookieName = "jwtauth_session"
	DefaultJWTKeyFile        = "data/jwtauth-ed25519.pem"
	DefaultMailFrom          = "jwtauth <no-reply@localhost>"
	// DefaultSMTPPort and DefaultSMTPSPort are SMTP_URL's ports when it
	// names none: submission with STARTTLS, and submission over TLS.
	DefaultSMTPPort  = 587
	DefaultSMTPSPort = 465
)

// MaxDerivedConns is the most connections DerivedMaxConns allows, however
// many files the process may open: about 20 KB each (a goroutine and its
// buffers), so about 1.3 GB at most.
const MaxDerivedConns = 65_536

// DerivedMaxConns is the default of HTTP_MAX_CONNS for a process that may
// open openFiles files (the soft RLIMIT_NOFILE, which Go raises to the hard
// limit at start): a tenth and 64 more are left for database and Redis
// connections, refused connections being answered, the side listeners and
// files, with at least half the limit for clients and at most
// MaxDerivedConns.
func DerivedMaxConns(openFiles uint64) int {
	n := openFiles - openFiles/10
	if n >= openFiles/2+64 {
		n -= 64
	} else {
		n = openFiles / 2
	}
	return int(max(1, min(n, MaxDerivedConns)))
}

// MinSecretLength is the shortest JWT_SECRET accepted: HS256 wants a key at
// least as long as its 256-bit output. Length is not enough: see
// MinSecretBits and knownSecrets.
const MinSecretLength = 32

// ErrInvalid is the error Load returns for settings it refuses, wrapped
// with one line naming each bad variable.
var ErrInvalid = errors.New("invalid configuration")

// Load reads the configuration through getenv (os.Getenv in production, a
// map in tests) and validates it. An empty variable counts as unset. The
// error names every bad variable on one line.
func Load(getenv func(string) string) (Config, error) {
	r := reader{getenv: getenv}
	cfg := Config{
		DBDriver:              r.oneOf("DB_DRIVER", "sqlite", "sqlite", "mysql", "postgres"),
		DBConnMaxLifetime:     r.duration("DB_CONN_MAX_LIFETIME", 30*time.Minute, 0),
		DBTimeout:             r.duration("DB_TIMEOUT", 5*time.Second, 100*time.Millisecond),
		AccessTokenTTL:        r.duration("ACCESS_TOKEN_TTL", time.Hour, time.Second),
		RefreshTokenTTL:       r.duration("REFRESH_TOKEN_TTL", 24*time.Hour, time.Second),
		SessionMaxAge:         r.duration("SESSION_MAX_AGE", 30*24*time.Hour, time.Second),
		RefreshReuseGrace:     r.duration("REFRESH_REUSE_GRACE", 10*time.Second, 0),
		RefreshRotation:       r.boolean("REFRESH_ROTATION", true),
		JWTSigning:            r.oneOf("JWT_SIGNING", "HS256", "HS256", "EdDSA"),
		JWTKeyFile:            r.get("JWT_KEY_FILE"),
		BcryptCost:            r.intRange("BCRYPT_COST", 10, 4, 31),
		PasswordMinLength:     r.intRange("PASSWORD_MIN_LENGTH", 8, 1, 72),
		CORSOrigins:           r.origins("CORS_ORIGINS", DefaultCORSOrigins),
		SessionCookieName:     r.cookieName("SESSION_COOKIE_NAME", DefaultSessionCookieName),
		SessionCookieDomain:   r.cookieDomain("SESSION_COOKIE_DOMAIN"),
		SessionCookieSecure:   r.oneOf("SESSION_COOKIE_SECURE", "auto", "auto", "always"),
		SessionCookieSameSite: r.oneOf("SESSION_COOKIE_SAMESITE", "strict", "strict", "lax"),
		TokensInBody:          r.boolean("TOKENS_IN_BODY", true),
		SignupAllowRoles:      r.roles("SIGNUP_ALLOW_ROLES", "user"),
		AuthzCacheTTL:         r.duration("AUTHZ_CACHE_TTL", 5*time.Second, 0),
		TrustedProxies:        r.proxies("TRUSTED_PROXIES"),
		RedisURL:              r.redisURL("REDIS_URL"),
		SignInIPLimit:         r.rate("RATE_LIMIT_SIGNIN_IP", "100/1m"),
		SignInUserLimit:       r.rate("RATE_LIMIT_SIGNIN_USER", "10/15m"),
		SignInAccountLimit:    r.rate("RATE_LIMIT_SIGNIN_ACCOUNT", "100/15m"),
		SignUpIPLimit:         r.rate("RATE_LIMIT_SIGNUP_IP", "100/1h"),
		RefreshIPLimit:        r.rate("RATE_LIMIT_REFRESH_IP", "100/1m"),
		ForgotIPLimit:         r.rate("RATE_LIMIT_FORGOT_IP", "20/1h"),
		ForgotEmailLimit:      r.rate("RATE_LIMIT_FORGOT_EMAIL", "5/1h"),
		ResetTokenTTL:         r.duration("RESET_TOKEN_TTL", 30*time.Minute, time.Minute),
		EmailVerification:     r.oneOf("EMAIL_VERIFICATION", "off", "off", "optional", "required"),
		VerifyTokenTTL:        r.duration("VERIFY_TOKEN_TTL", 24*time.Hour, time.Minute),
		AppURL:                r.baseURL("APP_URL"),
		PublicURL:             r.baseURL("PUBLIC_URL"),
		HashWorkers:           r.intRange("HASH_WORKERS", 0, 0, 1024),
		HashQueue:             r.intRange("HASH_QUEUE", 64, 0, 100_000),
		HashMaxWait:           r.duration("HASH_MAX_WAIT", 3*time.Second, time.Millisecond),
		RejectCommonPasswords: r.boolean("PASSWORD_REJECT_COMMON", true),
		HTTPReadTimeout:       r.duration("HTTP_READ_TIMEOUT", 30*time.Second, time.Second),
		HTTPWriteTimeout:      r.duration("HTTP_WRITE_TIMEOUT", time.Minute, time.Second),
		HTTPMaxConnsPerIP:     r.intRange("HTTP_MAX_CONNS_PER_IP", 256, 0, 10_000_000),
		HTTPMaxConns:          r.intRange("HTTP_MAX_CONNS", 0, 0, 10_000_000),
		MetricsAddr:           r.hostPort("METRICS_ADDR"),
		AccessLog:             r.boolean("ACCESS_LOG", false),
		PprofAddr:             r.hostPort("PPROF_ADDR"),
		SMTP:                  r.smtpURL("SMTP_URL"),
		MailFrom:              r.mailFrom("MAIL_FROM", DefaultMailFrom),
		MailTemplatesDir:      r.get("MAIL_TEMPLATES_DIR"),
		LogLevel:              r.level("LOG_LEVEL", slog.LevelInfo),
		LogFormat:             r.oneOf("LOG_FORMAT", "text", "text", "json"),
	}
	cfg.Addr = r.addr()
	if cfg.PublicURL == "" {
		cfg.PublicURL = publicURL(cfg.Addr)
	}
	if cfg.HashWorkers == 0 {
		cfg.HashWorkers = runtime.GOMAXPROCS(0)
	}
	cfg.Procs = max(runtime.GOMAXPROCS(0), cfg.HashWorkers+1)
	cfg.DBDSN = r.get("DB_DSN")
	if looks := dsnEngine(cfg.DBDSN); looks != "" && looks != cfg.DBDriver {
		if r.get("DB_DRIVER") == "" && looks != "sqlite" {
			cfg.DBDriver = looks
		} else {
			r.fail("DB_DSN", "looks like a %s DSN but the driver is %s: set DB_DRIVER=%s (or a %s DSN)", looks, cfg.DBDriver, looks, cfg.DBDriver)
		}
	}
	// SQLite runs in the process: connections beyond the processors add
	// no throughput, and each keeps a page cache of its own.
	pool := 10
	if cfg.DBDriver == "sqlite" {
		pool = cfg.Procs
	}
	cfg.DBMaxOpenConns = r.intRange("DB_MAX_OPEN_CONNS", pool, 1, 10_000)
	cfg.DBMaxIdleConns = r.intRange("DB_MAX_IDLE_CONNS", cfg.DBMaxOpenConns, 0, 10_000)
	if cfg.DBDSN == "" {
		switch cfg.DBDriver {
		case "sqlite":
			cfg.DBDSN = DefaultSQLiteDSN
		case "mysql":
			r.fail("DB_DSN", "required when DB_DRIVER=mysql, e.g. root:@tcp(127.0.0.1:3306)/test?parseTime=true")
		case "postgres":
			r.fail("DB_DSN", "required when DB_DRIVER=postgres, e.g. postgres://user:password@127.0.0.1:5432/test?sslmode=disable")
		}
	}
	if secret := r.get("JWT_SECRET"); secret != "" {
		if problem := secretProblem(secret); problem != "" {
			r.fail("JWT_SECRET", "%s", problem)
		}
		cfg.JWTSecret = []byte(secret)
	}
	for i, secret := range r.list("JWT_PREVIOUS_SECRETS", "") {
		if problem := secretProblem(secret); problem != "" {
			r.fail("JWT_PREVIOUS_SECRETS", "secret %d %s", i+1, problem)
		}
		cfg.JWTPreviousSecrets = append(cfg.JWTPreviousSecrets, []byte(secret))
	}
	if cfg.JWTKeyFile == "" {
		cfg.JWTKeyFile = DefaultJWTKeyFile
	}
	if cfg.HTTPWriteTimeout <= cfg.HTTPReadTimeout {
		r.fail("HTTP_WRITE_TIMEOUT", "must exceed HTTP_READ_TIMEOUT (%s): it counts the body's arrival too, got %s", cfg.HTTPReadTimeout, cfg.HTTPWriteTimeout)
	}
	if cfg.RefreshTokenTTL > cfg.SessionMaxAge {
		r.fail("REFRESH_TOKEN_TTL", "must not exceed SESSION_MAX_AGE (%s), got %s", cfg.SessionMaxAge, cfg.RefreshTokenTTL)
	}
	if !cfg.TokensInBody && cfg.CookiesDisabled() {
		r.fail("TOKENS_IN_BODY", `off needs the session cookie, which CORS_ORIGINS="*" turns off: tokens would reach no one`)
	}
	if strings.HasPrefix(cfg.SessionCookieName, "__Secure-") || strings.HasPrefix(cfg.SessionCookieName, "__Host-") {
		if cfg.SessionCookieSecure != "always" {
			r.fail("SESSION_COOKIE_SECURE", "must be always for a cookie named %s (browsers refuse it otherwise)", cfg.SessionCookieName)
		}
		if strings.HasPrefix(cfg.SessionCookieName, "__Host-") && cfg.SessionCookieDomain != "" {
			r.fail("SESSION_COOKIE_DOMAIN", "must be unset for a cookie named %s (browsers refuse it otherwise)", cfg.SessionCookieName)
		}
	}
	if len(r.errs) > 0 {
		return Config{}, fmt.Errorf("%w: %s", ErrInvalid, strings.Join(r.errs, "; "))
	}
	return cfg, nil
}

// CookiesDisabled reports whether the session cookie is off: with
// CORS_ORIGINS="*" any page on the web may call the API, and credentials
// must not go with such calls (browsers refuse them anyway).
func (c Config) CookiesDisabled() bool { return slices.Equal(c.CORSOrigins, []string{"*"}) }
