package config

import (
	"fmt"
	"log/slog"
	"net"
	netmail "net/mail"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"jwtauth/internal/mail"
	"jwtauth/internal/ratelimit"
	"jwtauth/internal/store"
)

// reader collects every problem instead of stopping at the first, so that
// one start tells the operator everything to fix.
type reader struct {
	getenv func(string) string
	errs   []string
}

// dsnEngine names the engine whose DSN syntax dsn can only be: "postgres"
// for a URL or key=value connection string, "mysql" for the Go MySQL
// driver's user@protocol(address)/dbname, "sqlite" for a file: URI, an
// in-memory database or a file name ending in .db, .sqlite or .sqlite3; ""
// when it is none of these for sure (or empty).
func dsnEngine(dsn string) string {
	lower := strings.ToLower(dsn)
	path, _, _ := strings.Cut(lower, "?")
	switch {
	case dsn == "":
		return ""
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"):
		return "postgres"
	case pgKeyValue.MatchString(lower):
		return "postgres"
	case mysqlDSN.MatchString(dsn):
		return "mysql"
	case strings.HasPrefix(lower, "file:"), strings.HasPrefix(lower, ":memory:"),
		strings.HasSuffix(path, ".db"), strings.HasSuffix(path, ".sqlite"), strings.HasSuffix(path, ".sqlite3"):
		return "sqlite"
	}
	return ""
}

var (
	// pgKeyValue is libpq's "host=... dbname=..." form: it starts with a
	// keyword only libpq uses there.
	pgKeyValue = regexp.MustCompile(`^\s*(host|hostaddr|port|dbname|user|password|sslmode|service)\s*=`)
	// mysqlDSN is [user[:password]@][protocol[(address)]]/dbname with a
	// user or a protocol, which no file name has.
	mysqlDSN = regexp.MustCompile(`^([^/@]*@)?(tcp6?|unix)\([^)]*\)/|^[^/@]*@/`)
)

func (r *reader) get(name string) string { return strings.TrimSpace(r.getenv(name)) }

func (r *reader) fail(name, format string, args ...any) {
	r.errs = append(r.errs, name+": "+fmt.Sprintf(format, args...))
}

func (r *reader) hostPort(name string) string {
	v := r.get(name)
	if v == "" {
		return ""
	}
	if _, port, err := net.SplitHostPort(v); err != nil || !validPort(port, true) {
		r.fail(name, "must be host:port, e.g. 127.0.0.1:9090, got %q", v)
	}
	return v
}

func (r *reader) addr() string {
	if addr := r.get("ADDR"); addr != "" {
		if _, port, err := net.SplitHostPort(addr); err != nil || !validPort(port, true) {
			r.fail("ADDR", "must be host:port, e.g. 127.0.0.1:8080, got %q", addr)
		}
		return addr
	}
	port := r.get("PORT")
	if port == "" {
		port = DefaultPort
	}
	if !validPort(port, false) {
		r.fail("PORT", "must be a number from 1 to 65535, got %q", port)
	}
	return ":" + port
}

// baseURL reads an http(s) URL that links are built on: a scheme and a
// host, maybe a path, no query or fragment; a trailing slash is dropped.
func (r *reader) baseURL(name string) string {
	v := r.get(name)
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(v, "?") || strings.HasSuffix(v, "#") {
		r.fail(name, "must be an http or https URL without query or fragment, e.g. https://app.example.com, got %q", v)
		return ""
	}
	return strings.TrimRight(v, "/")
}

// publicURL is the address a server listening on addr has on this
// machine: a wildcard host is localhost.
func publicURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://localhost:" + DefaultPort
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

func validPort(s string, zeroOK bool) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n <= 65535 && (n > 0 || zeroOK && n == 0)
}

func (r *reader) oneOf(name, def string, allowed ...string) string {
	v := r.get(name)
	if v == "" {
		return def
	}
	for _, a := range allowed {
		if strings.EqualFold(v, a) {
			return a
		}
	}
	r.fail(name, "must be one of %s, got %q", strings.Join(allowed, ", "), v)
	return def
}

func (r *reader) intRange(name string, def, lo, hi int) int {
	v := r.get(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.fail(name, "must be a whole number from %d to %d, got %q", lo, hi, v)
		return def
	}
	return n
}

func (r *reader) duration(name string, def, lowest time.Duration) time.Duration {
	v := r.get(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lowest {
		r.fail(name, "must be a Go duration of at least %s (e.g. 90s, 15m, 1h), got %q", lowest, v)
		return def
	}
	return d
}

func (r *reader) rate(name, def string) ratelimit.Rate {
	v := r.get(name)
	if v == "" {
		v = def
	}
	rate, err := ratelimit.ParseRate(v)
	if err != nil {
		r.fail(name, "%v", err)
	}
	return rate
}

func (r *reader) proxies(name string) []string {
	list := r.list(name, "")
	for _, p := range list {
		if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
			r.fail(name, "%q is neither an IP address nor a CIDR like 10.0.0.0/8", p)
		}
	}
	return list
}

func (r *reader) redisURL(name string) string {
	v := r.get(name)
	if v == "" {
		return ""
	}
	if u, err := url.Parse(v); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		r.fail(name, "must be a URL like redis://127.0.0.1:6379/0")
	}
	return v
}

func (r *reader) boolean(name string, def bool) bool {
	switch v := strings.ToLower(r.get(name)); v {
	case "":
		return def
	case "1", "true", "on", "yes":
		return true
	case "0", "false", "off", "no":
		return false
	default:
		r.fail(name, "must be on or off, got %q", v)
		return def
	}
}

func (r *reader) level(name string, def slog.Level) slog.Level {
	v := r.get(name)
	if v == "" {
		return def
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(v)); err != nil {
		r.fail(name, "must be one of debug, info, warn, error, got %q", v)
		return def
	}
	return l
}

func (r *reader) list(name, def string) []string {
	v := r.get(name)
	if v == "" {
		v = def
	}
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func (r *reader) origins(name, def string) []string {
	origins := r.list(name, def)
	if len(origins) == 0 {
		r.fail(name, "must name at least one origin")
	}
	for _, o := range origins {
		if o == "*" {
			if len(origins) > 1 {
				r.fail(name, `"*" must stand alone`)
			}
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			r.fail(name, "%q is not an origin like http://localhost:8081", o)
		}
	}
	for i, o := range origins {
		origins[i] = strings.TrimSuffix(o, "/")
	}
	return origins
}

// cookieName reads a cookie name: 1-64 letters, digits and -_. (a subset of
// RFC 6265's token that needs no quoting anywhere).
func (r *reader) cookieName(name, def string) string {
	v := r.get(name)
	if v == "" {
		return def
	}
	ok := len(v) <= 64
	for _, c := range v {
		ok = ok && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.')
	}
	if !ok {
		r.fail(name, "must be 1-64 letters, digits, '-', '_' or '.', got %q", v)
		return def
	}
	return v
}

// cookieDomain reads a cookie's Domain: a host name (a leading dot is
// dropped, as browsers do), no scheme, port or address.
func (r *reader) cookieDomain(name string) string {
	v := strings.TrimPrefix(strings.ToLower(r.get(name)), ".")
	if v == "" {
		return ""
	}
	ok := len(v) <= 253 && net.ParseIP(v) == nil
	for _, label := range strings.Split(v, ".") {
		ok = ok && label != "" && len(label) <= 63 && !strings.HasPrefix(label, "-") && !strings.HasSuffix(label, "-")
		for _, c := range label {
			ok = ok && (c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-')
		}
	}
	if !ok {
		r.fail(name, "must be a host name such as example.com, got %q", v)
		return ""
	}
	return v
}

func (r *reader) roles(name, def string) []string {
	roles := r.list(name, def)
	for i, role := range roles {
		role = store.RoleName(role)
		roles[i] = role
		if known := store.RoleNames(); !slices.Contains(known, role) {
			r.fail(name, "unknown role %q (known: %s)", role, strings.Join(known, ", "))
		}
	}
	return roles
}

// smtpURL reads an SMTP server's URL: smtp:// or smtps://, with an
// optional user:password@ and port. smtp:// upgrades with STARTTLS, and
// by default requires it: ?starttls=opportunistic sends in the clear to a
// server that does not offer it, ?starttls=off never upgrades (a relay on
// the same host). A problem is described without the value, which may
// hold a password.
func (r *reader) smtpURL(name string) mail.Server {
	v := r.get(name)
	if v == "" {
		return mail.Server{}
	}
	const like = "must be a URL like smtp://user:password@smtp.example.com:587 or smtps://user:password@smtp.example.com:465"
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" ||
		(u.Path != "" && u.Path != "/") || u.Fragment != "" || u.Opaque != "" {
		r.fail(name, "%s", like)
		return mail.Server{}
	}
	s := mail.Server{Host: u.Hostname(), Port: DefaultSMTPPort, TLS: mail.STARTTLSRequired}
	if u.Scheme == "smtps" {
		s.Port, s.TLS = DefaultSMTPSPort, mail.TLSImplicit
	}
	if p := u.Port(); p != "" {
		if !validPort(p, false) {
			r.fail(name, "the port must be a number from 1 to 65535")
			return mail.Server{}
		}
		s.Port, _ = strconv.Atoi(p)
	}
	if u.User != nil {
		s.Username = u.User.Username()
		s.Password, _ = u.User.Password()
	}
	query := u.Query()
	for key := range query {
		if key != "starttls" {
			r.fail(name, "unknown option %q (known: starttls)", key)
		}
	}
	if starttls := query.Get("starttls"); starttls != "" {
		if u.Scheme == "smtps" {
			r.fail(name, "starttls applies to smtp:// only (smtps:// is TLS throughout)")
			return s
		}
		switch mode := mail.TLSMode(strings.ToLower(starttls)); mode {
		case mail.STARTTLSRequired, mail.STARTTLSOpportunistic, mail.TLSOff:
			s.TLS = mode
		default:
			r.fail(name, "starttls must be one of required, opportunistic, off, got %q", starttls)
		}
	}
	return s
}

// mailFrom reads an address as net/mail parses it, such as
// "jwtauth <no-reply@example.com>" or no-reply@example.com.
func (r *reader) mailFrom(name, def string) string {
	v := r.get(name)
	if v == "" {
		return def
	}
	if _, err := netmail.ParseAddress(v); err != nil {
		r.fail(name, "must be an address like \"jwtauth <no-reply@example.com>\", got %q", v)
		return def
	}
	return v
}
