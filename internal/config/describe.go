package config

import (
	"log/slog"
	"net/url"
	"strings"
	"time"

	"jwtauth/internal/ratelimit"
	"jwtauth/internal/store"
)

// LogValue describes the configuration as the server runs with it, one
// attribute per setting, named after its variable, for the line the
// server logs at start: an operator sees what is in effect (defaults
// included) rather than what they believe they set. Secrets never appear:
// JWT_SECRET shows only whether it is set, JWT_PREVIOUS_SECRETS only how
// many there are, and the database, Redis and SMTP addresses lose their
// passwords. Being a slog.LogValuer, a Config logged anywhere else is
// masked the same way.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("addr", c.Addr),
		slog.String("db_driver", c.DBDriver),
		slog.String("database", store.Describe(c.DBDriver, c.DBDSN)),
		slog.Int("db_max_open_conns", c.DBMaxOpenConns),
		slog.Int("db_max_idle_conns", c.DBMaxIdleConns),
		duration("db_conn_max_lifetime", c.DBConnMaxLifetime),
		duration("db_timeout", c.DBTimeout),
		slog.String("jwt_secret", c.secretState()),
		slog.Int("jwt_previous_secrets", len(c.JWTPreviousSecrets)),
		slog.String("jwt_signing", c.JWTSigning),
		slog.String("jwt_key_file", c.JWTKeyFile),
		duration("access_token_ttl", c.AccessTokenTTL),
		duration("refresh_token_ttl", c.RefreshTokenTTL),
		duration("session_max_age", c.SessionMaxAge),
		duration("refresh_reuse_grace", c.RefreshReuseGrace),
		slog.Bool("refresh_rotation", c.RefreshRotation),
		slog.Int("bcrypt_cost", c.BcryptCost),
		slog.Int("password_min_length", c.PasswordMinLength),
		list("cors_origins", c.CORSOrigins),
		slog.String("session_cookie_name", c.cookieState()),
		slog.String("session_cookie_domain", c.SessionCookieDomain),
		slog.String("session_cookie_secure", c.SessionCookieSecure),
		slog.String("session_cookie_samesite", c.SessionCookieSameSite),
		slog.Bool("tokens_in_body", c.TokensInBody),
		list("signup_allow_roles", c.SignupAllowRoles),
		duration("authz_cache_ttl", c.AuthzCacheTTL),
		list("trusted_proxies", c.TrustedProxies),
		slog.String("redis_url", redactURL(c.RedisURL)),
		rate("rate_limit_signin_ip", c.SignInIPLimit),
		rate("rate_limit_signin_user", c.SignInUserLimit),
		rate("rate_limit_signin_account", c.SignInAccountLimit),
		rate("rate_limit_signup_ip", c.SignUpIPLimit),
		rate("rate_limit_refresh_ip", c.RefreshIPLimit),
		rate("rate_limit_forgot_ip", c.ForgotIPLimit),
		rate("rate_limit_forgot_email", c.ForgotEmailLimit),
		duration("reset_token_ttl", c.ResetTokenTTL),
		slog.String("email_verification", c.EmailVerification),
		duration("verify_token_ttl", c.VerifyTokenTTL),
		slog.String("app_url", c.AppURL),
		slog.String("public_url", c.PublicURL),
		slog.Int("hash_workers", c.HashWorkers),
		slog.Int("hash_queue", c.HashQueue),
		duration("hash_max_wait", c.HashMaxWait),
		slog.Int("gomaxprocs", c.Procs),
		slog.Bool("password_reject_common", c.RejectCommonPasswords),
		duration("http_read_timeout", c.HTTPReadTimeout),
		duration("http_write_timeout", c.HTTPWriteTimeout),
		slog.Int("http_max_conns_per_ip", c.HTTPMaxConnsPerIP),
		slog.Int("http_max_conns", c.HTTPMaxConns),
		slog.String("metrics_addr", c.MetricsAddr),
		slog.Bool("access_log", c.AccessLog),
		slog.String("pprof_addr", c.PprofAddr),
		slog.String("smtp_url", c.SMTP.Redacted()),
		slog.String("mail_from", c.MailFrom),
		slog.String("mail_templates_dir", c.MailTemplatesDir),
		slog.String("log_level", c.LogLevel.String()),
		slog.String("log_format", c.LogFormat),
	)
}

// secretState says what signs HS256 tokens without saying the secret.
func (c Config) secretState() string {
	switch {
	case len(c.JWTSecret) > 0:
		return "set"
	case c.JWTSigning == "EdDSA":
		return "unset"
	default:
		return "random at start"
	}
}

// cookieState is the session cookie's name, or says it is off.
func (c Config) cookieState() string {
	if c.CookiesDisabled() {
		return "off (CORS_ORIGINS=*)"
	}
	return c.SessionCookieName
}

// duration is written as Go writes it ("1h0m0s") in every log format; the
// JSON handler would otherwise write nanoseconds.
func duration(key string, d time.Duration) slog.Attr { return slog.String(key, d.String()) }

func list(key string, items []string) slog.Attr { return slog.String(key, strings.Join(items, ",")) }

func rate(key string, r ratelimit.Rate) slog.Attr { return slog.String(key, r.String()) }

// redactURL hides the password of a URL such as REDIS_URL's. One that does
// not parse (Load refuses those) is hidden whole rather than risked.
func redactURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		return "xxxxx"
	}
	return u.Redacted()
}
