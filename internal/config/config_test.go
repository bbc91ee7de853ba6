package config_test

import (
	"log/slog"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"jwtauth/internal/config"
	"jwtauth/internal/mail"
	"jwtauth/internal/ratelimit"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestDefaults(t *testing.T) {
	cfg, err := config.Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := config.Config{
		Addr:                  ":8080",
		DBDriver:              "sqlite",
		DBDSN:                 "data/jwtauth.db",
		DBMaxOpenConns:        runtime.GOMAXPROCS(0) + 1,
		DBMaxIdleConns:        runtime.GOMAXPROCS(0) + 1,
		DBConnMaxLifetime:     30 * time.Minute,
		AccessTokenTTL:        time.Hour,
		RefreshTokenTTL:       24 * time.Hour,
		SessionMaxAge:         30 * 24 * time.Hour,
		RefreshReuseGrace:     10 * time.Second,
		RefreshRotation:       true,
		JWTSigning:            "HS256",
		JWTKeyFile:            "data/jwtauth-ed25519.pem",
		BcryptCost:            10,
		PasswordMinLength:     8,
		CORSOrigins:           []string{"http://localhost:8081"},
		SessionCookieName:     "jwtauth_session",
		SessionCookieSecure:   "auto",
		SessionCookieSameSite: "strict",
		TokensInBody:          true,
		SignupAllowRoles:      []string{"user"},
		AuthzCacheTTL:         5 * time.Second,
		DBTimeout:             5 * time.Second,
		SignInIPLimit:         ratelimit.Rate{Count: 100, Period: time.Minute},
		SignInUserLimit:       ratelimit.Rate{Count: 10, Period: 15 * time.Minute},
		SignInAccountLimit:    ratelimit.Rate{Count: 100, Period: 15 * time.Minute},
		SignUpIPLimit:         ratelimit.Rate{Count: 100, Period: time.Hour},
		RefreshIPLimit:        ratelimit.Rate{Count: 100, Period: time.Minute},
		ForgotIPLimit:         ratelimit.Rate{Count: 20, Period: time.Hour},
		ForgotEmailLimit:      ratelimit.Rate{Count: 5, Period: time.Hour},
		ResetTokenTTL:         30 * time.Minute,
		EmailVerification:     "off",
		VerifyTokenTTL:        24 * time.Hour,
		PublicURL:             "http://localhost:8080",
		HashWorkers:           runtime.GOMAXPROCS(0),
		Procs:                 runtime.GOMAXPROCS(0) + 1,
		HashQueue:             64,
		HashMaxWait:           3 * time.Second,
		RejectCommonPasswords: true,
		HTTPReadTimeout:       30 * time.Second,
		HTTPWriteTimeout:      time.Minute,
		HTTPMaxConnsPerIP:     256,

		MailFrom:  "jwtauth <no-reply@localhost>",
		LogLevel:  slog.LevelInfo,
		LogFormat: "text",
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", cfg, want)
	}
}

func TestSettings(t *testing.T) {
	secret, previous1, previous2 := randomSecret(t), randomSecret(t), randomSecret(t)
	cfg, err := config.Load(env(map[string]string{
		"PORT":                   "9090",
		"DB_DRIVER":              "mysql",
		"DB_DSN":                 "root:@tcp(127.0.0.1:3306)/test?parseTime=true",
		"JWT_SECRET":             secret,
		"ACCESS_TOKEN_TTL":       "15m",
		"BCRYPT_COST":            "12",
		"CORS_ORIGINS":           "http://localhost:8081, https://app.example.com/",
		"SIGNUP_ALLOW_ROLES":     "user,moderator,admin",
		"AUTHZ_CACHE_TTL":        "0",
		"LOG_LEVEL":              "debug",
		"LOG_FORMAT":             "JSON",
		"JWT_SIGNING":            "eddsa",
		"REFRESH_ROTATION":       "off",
		"TRUSTED_PROXIES":        "10.0.0.0/8, 192.168.1.10",
		"REDIS_URL":              "redis://127.0.0.1:6379/0",
		"RATE_LIMIT_SIGNIN_USER": "off",
		"HASH_WORKERS":           "3",
		"JWT_KEY_FILE":           "/etc/jwtauth/key.pem",
		"JWT_PREVIOUS_SECRETS":   previous1 + "," + previous2,
		"HTTP_READ_TIMEOUT":      "1m",
		"HTTP_WRITE_TIMEOUT":     "2m",
		"HTTP_MAX_CONNS_PER_IP":  "0",
		"HTTP_MAX_CONNS":         "5000",
		"RESET_TOKEN_TTL":        "1h",
		"EMAIL_VERIFICATION":     "Required",
		"VERIFY_TOKEN_TTL":       "2h",
		"APP_URL":                "https://app.example.com/",
		"RATE_LIMIT_FORGOT_IP":   "3/1m",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != ":9090" || cfg.DBDriver != "mysql" || string(cfg.JWTSecret) != secret ||
		cfg.AccessTokenTTL != 15*time.Minute || cfg.BcryptCost != 12 || cfg.AuthzCacheTTL != 0 ||
		cfg.LogLevel != slog.LevelDebug || cfg.LogFormat != "json" ||
		!reflect.DeepEqual(cfg.CORSOrigins, []string{"http://localhost:8081", "https://app.example.com"}) ||
		!reflect.DeepEqual(cfg.SignupAllowRoles, []string{"user", "moderator", "admin"}) ||
		cfg.JWTSigning != "EdDSA" || cfg.RefreshRotation || cfg.HashWorkers != 3 ||
		!cfg.SignInUserLimit.Unlimited() || cfg.RedisURL != "redis://127.0.0.1:6379/0" ||
		!reflect.DeepEqual(cfg.TrustedProxies, []string{"10.0.0.0/8", "192.168.1.10"}) || cfg.JWTKeyFile != "/etc/jwtauth/key.pem" || len(cfg.JWTPreviousSecrets) != 2 ||
		string(cfg.JWTPreviousSecrets[1]) != previous2 || cfg.HTTPReadTimeout != time.Minute ||
		cfg.HTTPMaxConnsPerIP != 0 || cfg.HTTPMaxConns != 5000 || cfg.ResetTokenTTL != time.Hour ||
		cfg.EmailVerification != "required" || cfg.VerifyTokenTTL != 2*time.Hour ||
		cfg.AppURL != "https://app.example.com" || cfg.PublicURL != "http://localhost:9090" ||
		cfg.ForgotIPLimit != (ratelimit.Rate{Count: 3, Period: time.Minute}) {
		t.Errorf("got %+v", cfg)
	}
	cfg, err = config.Load(env(map[string]string{
		"SESSION_COOKIE_NAME": "__Host-sid", "SESSION_COOKIE_SECURE": "ALWAYS", "SESSION_COOKIE_SAMESITE": "Lax",
		"TOKENS_IN_BODY": "off",
	}))
	if err != nil || cfg.SessionCookieName != "__Host-sid" || cfg.SessionCookieSecure != "always" ||
		cfg.SessionCookieSameSite != "lax" || cfg.TokensInBody || cfg.CookiesDisabled() {
		t.Errorf("session cookie: %+v %v", cfg, err)
	}
	cfg, err = config.Load(env(map[string]string{"SESSION_COOKIE_DOMAIN": ".Example.COM", "CORS_ORIGINS": "*"}))
	if err != nil || cfg.SessionCookieDomain != "example.com" || !cfg.CookiesDisabled() {
		t.Errorf("cookie domain: %q %v %v", cfg.SessionCookieDomain, cfg.CookiesDisabled(), err)
	}
	cfg, err = config.Load(env(map[string]string{"ADDR": "127.0.0.1:7000", "PORT": "1"}))
	if err != nil || cfg.Addr != "127.0.0.1:7000" || cfg.PublicURL != "http://127.0.0.1:7000" {
		t.Errorf("ADDR: %q %q %v", cfg.Addr, cfg.PublicURL, err)
	}
	cfg, err = config.Load(env(map[string]string{"ADDR": "[::]:7000", "PUBLIC_URL": "https://auth.example.com/jwtauth/"}))
	if err != nil || cfg.PublicURL != "https://auth.example.com/jwtauth" {
		t.Errorf("PUBLIC_URL: %q %v", cfg.PublicURL, err)
	}
	cfg, err = config.Load(env(map[string]string{"ADDR": "[::]:7000"}))
	if err != nil || cfg.PublicURL != "http://localhost:7000" {
		t.Errorf("PUBLIC_URL from a wildcard ADDR: %q %v", cfg.PublicURL, err)
	}
}

// The hash pool's settings arrive resolved: HASH_WORKERS=0 is one worker
// per core, and HASH_QUEUE=0 stays 0 (nothing waits), for nothing
// downstream re-defaults them.
func TestHashPoolSettings(t *testing.T) {
	cfg, err := config.Load(env(map[string]string{"HASH_WORKERS": "0", "HASH_QUEUE": "0"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HashWorkers != runtime.GOMAXPROCS(0) || cfg.HashQueue != 0 {
		t.Errorf("HASH_WORKERS=0, HASH_QUEUE=0: workers %d (want %d), queue %d (want 0)", cfg.HashWorkers, runtime.GOMAXPROCS(0), cfg.HashQueue)
	}
}

// The server runs on one processor more than it has hashing workers, so
// that one processor no hash takes watches the network; never on fewer
// than Go chose.
func TestProcsLeaveOneProcessorFromHashing(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	for _, tt := range []struct {
		workers string
		want    int
	}{
		{"0", procs + 1},                     // one worker per core, and one processor more
		{strconv.Itoa(procs + 3), procs + 4}, // more workers than cores
		{"1", max(procs, 2)},                 // fewer workers: Go's choice stands when it is enough
	} {
		cfg, err := config.Load(env(map[string]string{"HASH_WORKERS": tt.workers}))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Procs != tt.want {
			t.Errorf("HASH_WORKERS=%s with GOMAXPROCS %d: Procs %d, want %d", tt.workers, procs, cfg.Procs, tt.want)
		}
	}
}

func TestInvalidValuesNameTheVariable(t *testing.T) {
	tests := []struct {
		env  map[string]string
		name string
	}{
		{map[string]string{"PORT": "http"}, "PORT"},
		{map[string]string{"PORT": "70000"}, "PORT"},
		{map[string]string{"ADDR": "localhost"}, "ADDR"},
		{map[string]string{"DB_DRIVER": "oracle"}, "DB_DRIVER"},
		{map[string]string{"DB_DRIVER": "mysql"}, "DB_DSN"},
		{map[string]string{"DB_DRIVER": "postgres"}, "DB_DSN"},
		{map[string]string{"JWT_SECRET": "short"}, "JWT_SECRET"},
		{map[string]string{"ACCESS_TOKEN_TTL": "1 hour"}, "ACCESS_TOKEN_TTL"},
		{map[string]string{"ACCESS_TOKEN_TTL": "-1h"}, "ACCESS_TOKEN_TTL"},
		{map[string]string{"REFRESH_TOKEN_TTL": "0"}, "REFRESH_TOKEN_TTL"},
		{map[string]string{"REFRESH_TOKEN_TTL": "48h", "SESSION_MAX_AGE": "24h"}, "REFRESH_TOKEN_TTL"},
		{map[string]string{"SESSION_MAX_AGE": "30d"}, "SESSION_MAX_AGE"},
		{map[string]string{"REFRESH_REUSE_GRACE": "-1s"}, "REFRESH_REUSE_GRACE"},
		{map[string]string{"JWT_PREVIOUS_SECRETS": strings.Repeat("p", 32) + ",short"}, "JWT_PREVIOUS_SECRETS"},
		{map[string]string{"JWT_SIGNING": "RS256"}, "JWT_SIGNING"},
		{map[string]string{"REFRESH_ROTATION": "sometimes"}, "REFRESH_ROTATION"},
		{map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8,proxy.local"}, "TRUSTED_PROXIES"},
		{map[string]string{"REDIS_URL": "127.0.0.1:6379"}, "REDIS_URL"},
		{map[string]string{"RATE_LIMIT_SIGNIN_IP": "100"}, "RATE_LIMIT_SIGNIN_IP"},
		{map[string]string{"RATE_LIMIT_SIGNIN_USER": "10/forever"}, "RATE_LIMIT_SIGNIN_USER"},
		{map[string]string{"RATE_LIMIT_SIGNUP_IP": "-5/1h"}, "RATE_LIMIT_SIGNUP_IP"},
		{map[string]string{"RATE_LIMIT_REFRESH_IP": "x"}, "RATE_LIMIT_REFRESH_IP"},
		{map[string]string{"RATE_LIMIT_FORGOT_IP": "x"}, "RATE_LIMIT_FORGOT_IP"},
		{map[string]string{"RATE_LIMIT_FORGOT_EMAIL": "5"}, "RATE_LIMIT_FORGOT_EMAIL"},
		{map[string]string{"RESET_TOKEN_TTL": "10s"}, "RESET_TOKEN_TTL"},
		{map[string]string{"EMAIL_VERIFICATION": "yes"}, "EMAIL_VERIFICATION"},
		{map[string]string{"VERIFY_TOKEN_TTL": "30s"}, "VERIFY_TOKEN_TTL"},
		{map[string]string{"APP_URL": "app.example.com"}, "APP_URL"},
		{map[string]string{"APP_URL": "javascript:alert(1)"}, "APP_URL"},
		{map[string]string{"PUBLIC_URL": "https://auth.example.com/?x=1"}, "PUBLIC_URL"},
		{map[string]string{"HASH_WORKERS": "-1"}, "HASH_WORKERS"},
		{map[string]string{"HASH_QUEUE": "many"}, "HASH_QUEUE"},
		{map[string]string{"HASH_MAX_WAIT": "0"}, "HASH_MAX_WAIT"},
		{map[string]string{"PASSWORD_REJECT_COMMON": "maybe"}, "PASSWORD_REJECT_COMMON"},
		{map[string]string{"METRICS_ADDR": "9090"}, "METRICS_ADDR"},
		{map[string]string{"DB_MAX_OPEN_CONNS": "0"}, "DB_MAX_OPEN_CONNS"},
		{map[string]string{"DB_MAX_IDLE_CONNS": "-1"}, "DB_MAX_IDLE_CONNS"},
		{map[string]string{"DB_CONN_MAX_LIFETIME": "forever"}, "DB_CONN_MAX_LIFETIME"},
		{map[string]string{"DB_TIMEOUT": "1ms"}, "DB_TIMEOUT"},
		{map[string]string{"ACCESS_LOG": "loud"}, "ACCESS_LOG"},
		{map[string]string{"HTTP_READ_TIMEOUT": "500ms"}, "HTTP_READ_TIMEOUT"},
		{map[string]string{"HTTP_WRITE_TIMEOUT": "20s"}, "HTTP_WRITE_TIMEOUT"},
		{map[string]string{"HTTP_READ_TIMEOUT": "2m"}, "HTTP_WRITE_TIMEOUT"},
		{map[string]string{"HTTP_READ_TIMEOUT": "30"}, "HTTP_READ_TIMEOUT"},
		{map[string]string{"HTTP_MAX_CONNS_PER_IP": "-1"}, "HTTP_MAX_CONNS_PER_IP"},
		{map[string]string{"HTTP_MAX_CONNS_PER_IP": "many"}, "HTTP_MAX_CONNS_PER_IP"},
		{map[string]string{"HTTP_MAX_CONNS": "-5"}, "HTTP_MAX_CONNS"},
		{map[string]string{"HTTP_MAX_CONNS": "1e6"}, "HTTP_MAX_CONNS"},
		{map[string]string{"BCRYPT_COST": "3"}, "BCRYPT_COST"},
		{map[string]string{"BCRYPT_COST": "32"}, "BCRYPT_COST"},
		{map[string]string{"BCRYPT_COST": "ten"}, "BCRYPT_COST"},
		{map[string]string{"PASSWORD_MIN_LENGTH": "0"}, "PASSWORD_MIN_LENGTH"},
		{map[string]string{"CORS_ORIGINS": "localhost:8081"}, "CORS_ORIGINS"},
		{map[string]string{"CORS_ORIGINS": "*,http://localhost:8081"}, "CORS_ORIGINS"},
		{map[string]string{"CORS_ORIGINS": "http://localhost:8081/app"}, "CORS_ORIGINS"},
		{map[string]string{"SIGNUP_ALLOW_ROLES": "user,root"}, "SIGNUP_ALLOW_ROLES"},
		{map[string]string{"AUTHZ_CACHE_TTL": "-1s"}, "AUTHZ_CACHE_TTL"},
		{map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL"},
		{map[string]string{"LOG_FORMAT": "xml"}, "LOG_FORMAT"},
		{map[string]string{"SMTP_URL": "smtp.example.com:587"}, "SMTP_URL"},
		{map[string]string{"SMTP_URL": "http://smtp.example.com"}, "SMTP_URL"},
		{map[string]string{"SMTP_URL": "smtp://"}, "SMTP_URL"},
		{map[string]string{"SMTP_URL": "smtp://smtp.example.com:99999"}, "SMTP_URL"},
		{map[string]string{"SMTP_URL": "smtp://smtp.example.com/path"}, "SMTP_URL"},
		{map[string]string{"SMTP_URL": "smtp://smtp.example.com?starttls=maybe"}, "SMTP_URL"},
		{map[string]string{"SMTP_URL": "smtp://smtp.example.com?tls=on"}, "SMTP_URL"},
		{map[string]string{"SMTP_URL": "smtps://smtp.example.com?starttls=off"}, "SMTP_URL"},
		{map[string]string{"MAIL_FROM": "no-reply"}, "MAIL_FROM"},
		{map[string]string{"MAIL_FROM": "a@example.com, b@example.com"}, "MAIL_FROM"},
		{map[string]string{"SESSION_COOKIE_NAME": "my session"}, "SESSION_COOKIE_NAME"},
		{map[string]string{"SESSION_COOKIE_NAME": "a;b"}, "SESSION_COOKIE_NAME"},
		{map[string]string{"SESSION_COOKIE_DOMAIN": "https://example.com"}, "SESSION_COOKIE_DOMAIN"},
		{map[string]string{"SESSION_COOKIE_DOMAIN": "example.com:8080"}, "SESSION_COOKIE_DOMAIN"},
		{map[string]string{"SESSION_COOKIE_DOMAIN": "127.0.0.1"}, "SESSION_COOKIE_DOMAIN"},
		{map[string]string{"SESSION_COOKIE_SECURE": "sometimes"}, "SESSION_COOKIE_SECURE"},
		{map[string]string{"SESSION_COOKIE_SAMESITE": "none"}, "SESSION_COOKIE_SAMESITE"},
		{map[string]string{"SESSION_COOKIE_NAME": "__Host-session"}, "SESSION_COOKIE_SECURE"},
		{map[string]string{"SESSION_COOKIE_NAME": "__Host-session", "SESSION_COOKIE_SECURE": "always",
			"SESSION_COOKIE_DOMAIN": "example.com"}, "SESSION_COOKIE_DOMAIN"},
		{map[string]string{"TOKENS_IN_BODY": "maybe"}, "TOKENS_IN_BODY"},
		{map[string]string{"TOKENS_IN_BODY": "off", "CORS_ORIGINS": "*"}, "TOKENS_IN_BODY"},
	}
	for _, tt := range tests {
		_, err := config.Load(env(tt.env))
		if err == nil {
			t.Errorf("%v: accepted", tt.env)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, tt.name+": ") || strings.Contains(msg, "\n") {
			t.Errorf("%v: error %q should be one line naming %s", tt.env, msg, tt.name)
		}
	}
	// Several bad values are all reported at once.
	_, err := config.Load(env(map[string]string{"PORT": "x", "BCRYPT_COST": "x"}))
	if err == nil || !strings.Contains(err.Error(), "PORT") || !strings.Contains(err.Error(), "BCRYPT_COST") {
		t.Errorf("two bad values: %v", err)
	}
}

func TestDerivedMaxConns(t *testing.T) {
	for openFiles, want := range map[uint64]int{
		1024:       858,   // a common soft limit: 1024 - 102 - 64
		20000:      17936, // 20000 - 2000 - 64
		100:        50,    // too few for the 64 spare: half
		1:          1,
		0:          1,
		1 << 20:    config.MaxDerivedConns,
		^uint64(0): config.MaxDerivedConns, // unlimited
		200_000:    config.MaxDerivedConns,
	} {
		if got := config.DerivedMaxConns(openFiles); got != want {
			t.Errorf("DerivedMaxConns(%d) = %d, want %d", openFiles, got, want)
		}
	}
}

// SMTP_URL as documented: smtp:// requires STARTTLS unless ?starttls says
// otherwise, smtps:// is TLS throughout, ports default to 587 and 465, and
// credentials are unescaped.
func TestSMTPURL(t *testing.T) {
	for url, want := range map[string]mail.Server{
		"smtp://smtp.example.com":                        {Host: "smtp.example.com", Port: 587, TLS: mail.STARTTLSRequired},
		"smtp://smtp.example.com:2525?starttls=required": {Host: "smtp.example.com", Port: 2525, TLS: mail.STARTTLSRequired},
		"smtp://127.0.0.1:1025?starttls=off":             {Host: "127.0.0.1", Port: 1025, TLS: mail.TLSOff},
		"smtp://relay.local?starttls=Opportunistic":      {Host: "relay.local", Port: 587, TLS: mail.STARTTLSOpportunistic},
		"smtps://me%40example.com:p%40ss:w0rd@smtp.example.com": {
			Host: "smtp.example.com", Port: 465, TLS: mail.TLSImplicit, Username: "me@example.com", Password: "p@ss:w0rd"},
		"smtp://apikey@[::1]:25/": {Host: "::1", Port: 25, TLS: mail.STARTTLSRequired, Username: "apikey"},
	} {
		cfg, err := config.Load(env(map[string]string{"SMTP_URL": url}))
		if err != nil {
			t.Errorf("%s: %v", url, err)
			continue
		}
		if cfg.SMTP != want {
			t.Errorf("%s: %+v, want %+v", url, cfg.SMTP, want)
		}
	}
	// A bad URL's error does not repeat it: it may hold a password.
	_, err := config.Load(env(map[string]string{"SMTP_URL": "smtp://me:Hunter2-secret@smtp.example.com:0"}))
	if err == nil || strings.Contains(err.Error(), "Hunter2-secret") {
		t.Errorf("bad SMTP_URL: %v", err)
	}
}

func TestMailSettings(t *testing.T) {
	cfg, err := config.Load(env(map[string]string{
		"MAIL_FROM": "Example Accounts <accounts@example.com>", "MAIL_TEMPLATES_DIR": "/etc/jwtauth/mail",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MailFrom != "Example Accounts <accounts@example.com>" || cfg.MailTemplatesDir != "/etc/jwtauth/mail" || cfg.SMTP.Host != "" {
		t.Errorf("got %+v", cfg)
	}
}

// A DSN that can only be one engine's picks that engine when DB_DRIVER is
// unset, instead of being taken for a SQLite file name.
func TestDriverFollowsAnUnambiguousDSN(t *testing.T) {
	tests := []struct {
		dsn, driver string
	}{
		{"root:@tcp(127.0.0.1:3306)/test?parseTime=true", "mysql"},
		{"app:secret@tcp(db:3306)/jwtauth", "mysql"},
		{"root@unix(/run/mysqld/mysqld.sock)/test", "mysql"},
		{"root:pw@/test", "mysql"},
		{"postgres://root@127.0.0.1:5432/test?sslmode=disable", "postgres"},
		{"postgresql://app:secret@db/jwtauth", "postgres"},
		{"host=127.0.0.1 port=5432 user=root dbname=test sslmode=disable", "postgres"},
		{"data/other.db", "sqlite"},
		{"file:data/x.db?_pragma=busy_timeout(5000)", "sqlite"},
		{":memory:", "sqlite"},
	}
	for _, tt := range tests {
		cfg, err := config.Load(env(map[string]string{"DB_DSN": tt.dsn}))
		if err != nil {
			t.Errorf("DB_DSN=%q: %v", tt.dsn, err)
			continue
		}
		if cfg.DBDriver != tt.driver {
			t.Errorf("DB_DSN=%q: driver %q, want %q", tt.dsn, cfg.DBDriver, tt.driver)
		}
	}
}

// A DSN that looks like another engine's than DB_DRIVER names is refused
// with one line that says which setting to change, rather than opened as
// something it is not (a SQLite file named after a MySQL DSN).
func TestDSNOfAnotherEngineIsRefused(t *testing.T) {
	tests := []struct {
		driver, dsn, want string
	}{
		{"sqlite", "root:@tcp(127.0.0.1:3306)/test?parseTime=true", "DB_DRIVER=mysql"},
		{"sqlite", "postgres://root@127.0.0.1:5432/test", "DB_DRIVER=postgres"},
		{"mysql", "postgres://root@127.0.0.1:5432/test", "DB_DRIVER=postgres"},
		{"postgres", "root:@tcp(127.0.0.1:3306)/test", "DB_DRIVER=mysql"},
		{"mysql", "data/jwtauth.db", "DB_DRIVER=sqlite"},
	}
	for _, tt := range tests {
		_, err := config.Load(env(map[string]string{"DB_DRIVER": tt.driver, "DB_DSN": tt.dsn}))
		if err == nil {
			t.Errorf("DB_DRIVER=%s DB_DSN=%q: loaded", tt.driver, tt.dsn)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, "DB_DSN") || !strings.Contains(msg, tt.want) || strings.Contains(msg, "\n") {
			t.Errorf("DB_DRIVER=%s DB_DSN=%q: error %q should be one line naming DB_DSN and %s", tt.driver, tt.dsn, msg, tt.want)
		}
	}
}

// SIGNUP_ALLOW_ROLES takes roles in either spelling, as the API does.
func TestSignupAllowRolesInEitherSpelling(t *testing.T) {
	cfg, err := config.Load(env(map[string]string{"SIGNUP_ALLOW_ROLES": "user,ROLE_MODERATOR"}))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"user", "moderator"}; !reflect.DeepEqual(cfg.SignupAllowRoles, want) {
		t.Errorf("SignupAllowRoles = %q, want %q", cfg.SignupAllowRoles, want)
	}
}

// SQLite runs in the process: more connections than processors buy no
// throughput and each holds a page cache, so its pool defaults to the
// processor count; a database server's pool defaults to 10.
func TestPoolDefaultsPerEngine(t *testing.T) {
	procs := max(runtime.GOMAXPROCS(0), runtime.GOMAXPROCS(0)+1)
	for _, tt := range []struct {
		env        map[string]string
		open, idle int
	}{
		{nil, procs, procs},
		{map[string]string{"DB_DSN": "root:@tcp(127.0.0.1:3306)/test"}, 10, 10},
		{map[string]string{"DB_DSN": "postgres://root@127.0.0.1/test"}, 10, 10},
		{map[string]string{"DB_MAX_OPEN_CONNS": "7"}, 7, 7},
		{map[string]string{"DB_MAX_OPEN_CONNS": "7", "DB_MAX_IDLE_CONNS": "1"}, 7, 1},
	} {
		cfg, err := config.Load(env(tt.env))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.DBMaxOpenConns != tt.open || cfg.DBMaxIdleConns != tt.idle {
			t.Errorf("%v: pool %d open, %d idle; want %d, %d", tt.env, cfg.DBMaxOpenConns, cfg.DBMaxIdleConns, tt.open, tt.idle)
		}
	}
}
