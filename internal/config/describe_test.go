package config_test

import (
	"bytes"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"jwtauth/internal/config"
)

// The start-up line names every setting: a field added to Config and not
// to LogValue fails here, so the log never silently leaves one out.
func TestLogValueNamesEverySetting(t *testing.T) {
	keys := map[string]string{ // Config field -> attribute
		"Addr": "addr", "DBDriver": "db_driver", "DBDSN": "database",
		"DBMaxOpenConns": "db_max_open_conns", "DBMaxIdleConns": "db_max_idle_conns",
		"DBConnMaxLifetime": "db_conn_max_lifetime", "DBTimeout": "db_timeout",
		"JWTSecret": "jwt_secret", "JWTPreviousSecrets": "jwt_previous_secrets",
		"JWTSigning": "jwt_signing", "JWTKeyFile": "jwt_key_file",
		"AccessTokenTTL": "access_token_ttl", "RefreshTokenTTL": "refresh_token_ttl",
		"SessionMaxAge": "session_max_age", "RefreshReuseGrace": "refresh_reuse_grace",
		"RefreshRotation": "refresh_rotation", "BcryptCost": "bcrypt_cost",
		"PasswordMinLength": "password_min_length", "CORSOrigins": "cors_origins",
		"SignupAllowRoles": "signup_allow_roles", "AuthzCacheTTL": "authz_cache_ttl",
		"TrustedProxies": "trusted_proxies", "RedisURL": "redis_url",
		"SignInIPLimit": "rate_limit_signin_ip", "SignInUserLimit": "rate_limit_signin_user",
		"SignInAccountLimit": "rate_limit_signin_account", "SignUpIPLimit": "rate_limit_signup_ip",
		"RefreshIPLimit": "rate_limit_refresh_ip", "ForgotIPLimit": "rate_limit_forgot_ip",
		"ForgotEmailLimit": "rate_limit_forgot_email", "ResetTokenTTL": "reset_token_ttl",
		"EmailVerification": "email_verification", "VerifyTokenTTL": "verify_token_ttl",
		"AppURL": "app_url", "PublicURL": "public_url", "HashWorkers": "hash_workers",
		"HashQueue": "hash_queue", "HashMaxWait": "hash_max_wait", "Procs": "gomaxprocs",
		"RejectCommonPasswords": "password_reject_common", "HTTPReadTimeout": "http_read_timeout", "HTTPWriteTimeout": "http_write_timeout",
		"HTTPMaxConnsPerIP": "http_max_conns_per_ip", "HTTPMaxConns": "http_max_conns",
		"MetricsAddr": "metrics_addr", "AccessLog": "access_log", "PprofAddr": "pprof_addr",
		"LogLevel": "log_level", "LogFormat": "log_format",
		"SMTP": "smtp_url", "MailFrom": "mail_from", "MailTemplatesDir": "mail_templates_dir",
		"SessionCookieName": "session_cookie_name", "SessionCookieDomain": "session_cookie_domain",
		"SessionCookieSecure": "session_cookie_secure", "SessionCookieSameSite": "session_cookie_samesite",
		"TokensInBody": "tokens_in_body",
	}
	fields := reflect.TypeFor[config.Config]()
	for i := range fields.NumField() {
		if _, ok := keys[fields.Field(i).Name]; !ok {
			t.Errorf("Config.%s has no attribute in the test's list: add it to LogValue and here", fields.Field(i).Name)
		}
	}

	cfg, err := config.Load(env(map[string]string{
		"HASH_QUEUE": "0", "CORS_ORIGINS": "http://localhost:8081,https://app.example.com",
		"SIGNUP_ALLOW_ROLES": "user,moderator", "TRUSTED_PROXIES": "10.0.0.0/8",
		"RATE_LIMIT_SIGNIN_USER": "off",
	}))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	attrs := cfg.LogValue().Group()
	for _, a := range attrs {
		if _, dup := got[a.Key]; dup {
			t.Errorf("attribute %s appears twice", a.Key)
		}
		got[a.Key] = a.Value.String()
	}
	if len(attrs) != fields.NumField() {
		t.Errorf("%d attributes for %d settings", len(attrs), fields.NumField())
	}
	for field, key := range keys {
		if _, ok := got[key]; !ok {
			t.Errorf("Config.%s: no attribute %s", field, key)
		}
	}
	for key, want := range map[string]string{
		"database":                "sqlite data/jwtauth.db",
		"cors_origins":            "http://localhost:8081,https://app.example.com",
		"signup_allow_roles":      "user,moderator",
		"trusted_proxies":         "10.0.0.0/8",
		"hash_queue":              "0",
		"hash_max_wait":           "3s",
		"access_token_ttl":        "1h0m0s",
		"rate_limit_signin_ip":    "100/1m0s",
		"rate_limit_signin_user":  "off",
		"jwt_secret":              "random at start",
		"smtp_url":                "",
		"mail_from":               "jwtauth <no-reply@localhost>",
		"log_level":               "INFO",
		"email_verification":      "off",
		"verify_token_ttl":        "24h0m0s",
		"session_cookie_name":     "jwtauth_session",
		"session_cookie_secure":   "auto",
		"session_cookie_samesite": "strict",
		"tokens_in_body":          "true",
	} {
		if got[key] != want {
			t.Errorf("%s = %q, want %q", key, got[key], want)
		}
	}
}

// No secret reaches the log, in either format, whatever the engine: not
// JWT_SECRET, not JWT_PREVIOUS_SECRETS, not a password in DB_DSN or
// REDIS_URL.
func TestLogValueMasksSecrets(t *testing.T) {
	secret, previous1, previous2 := randomSecret(t), randomSecret(t), randomSecret(t)
	const dbPassword, redisPassword, smtpPassword = "Db-pa55word-7f3a", "Redis-pa55word-91c2", "Smtp-pa55word-c0d3"
	for _, db := range []struct{ driver, dsn, shows string }{
		{"mysql", "app:" + dbPassword + "@tcp(127.0.0.1:3306)/jwtauth?parseTime=true", "mysql app@127.0.0.1:3306/jwtauth"},
		{"postgres", "postgres://app:" + dbPassword + "@127.0.0.1:5432/jwtauth?sslmode=disable", "postgres app@127.0.0.1:5432/jwtauth"},
		{"postgres", "host=127.0.0.1 user=app password=" + dbPassword + " dbname=jwtauth", "postgres app@127.0.0.1:5432/jwtauth"},
	} {
		cfg, err := config.Load(env(map[string]string{
			"DB_DRIVER": db.driver, "DB_DSN": db.dsn,
			"JWT_SECRET": secret, "JWT_PREVIOUS_SECRETS": previous1 + "," + previous2,
			"REDIS_URL": "redis://default:" + redisPassword + "@127.0.0.1:6379/0",
			"SMTP_URL":  "smtp://mailer:" + smtpPassword + "@smtp.example.com",
		}))
		if err != nil {
			t.Fatal(err)
		}
		for _, format := range []string{"text", "json"} {
			var buf bytes.Buffer
			var h slog.Handler = slog.NewTextHandler(&buf, nil)
			if format == "json" {
				h = slog.NewJSONHandler(&buf, nil)
			}
			slog.New(h).Info("configuration", "config", cfg)
			line := buf.String()
			for _, s := range []string{secret, previous1, previous2, dbPassword, redisPassword, smtpPassword} {
				if strings.Contains(line, s) {
					t.Errorf("%s, %s log shows a secret %q:\n%s", db.driver, format, s, line)
				}
			}
			for _, want := range []string{db.shows, "default:xxxxx@127.0.0.1:6379/0", "smtp://mailer:xxxxx@smtp.example.com:587?starttls=required", "jwt_secret", "jwt_previous_secrets"} {
				if !strings.Contains(line, want) {
					t.Errorf("%s, %s log lacks %q:\n%s", db.driver, format, want, line)
				}
			}
		}
	}
}
