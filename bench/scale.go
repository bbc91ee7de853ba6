package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	_ "github.com/glebarez/go-sqlite" // the "sqlite" database/sql driver jwtauth's store uses
	"github.com/go-sql-driver/mysql"
	"golang.org/x/crypto/bcrypt"
)

// scaleRow is one line of the scale table.
type scaleRow struct {
	engine, scenario string
	median           time.Duration
	target, verdict  string
	note             string
}

// scaleCalls is how many times each scale scenario is asked, one call at a
// time; the median is reported.
const scaleCalls = 11

// scaleTarget is SPEC section 5's bound on an admin list page or search.
const scaleTarget = 50 * time.Millisecond

// runScale loads n users into a fresh database of each configured engine
// with bulk SQL, then times the admin API's pages and searches, signin and
// a board against it: make bench-scale.
func (b *bench) runScale(n int) {
	fmt.Printf("jwtauth scale bench, %s: %d users per engine, %d calls per scenario one at a time, median\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), n, scaleCalls)
	var rows []scaleRow
	rows = append(rows, b.scale("sqlite", filepath.Join(b.dir, "scale.db"), n)...)
	if *mysqlDSN != "" {
		rows = append(rows, b.scale("mysql", b.mysqlDatabase(), n)...)
	}
	if *postgresDSN != "" {
		rows = append(rows, b.scale("postgres", b.postgresDatabase(), n)...)
	}
	for _, f := range dropLater {
		f()
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "engine\tscenario\tmedian\ttarget\t\tnote")
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", r.engine, r.scenario, dur(r.median), r.target, r.verdict, r.note)
	}
	w.Flush()
}

func (b *bench) scale(engine, dsn string, n int) []scaleRow {
	env := append([]string{"DB_DRIVER=" + engine, "DB_DSN=" + dsn}, jwtauthEnv(cost)...)
	migrate := exec.Command(b.path("jwtauth"), "migrate")
	migrate.Env = append(os.Environ(), env...)
	if out, err := migrate.CombinedOutput(); err != nil {
		fail("%s: jwtauth migrate: %v\n%s", engine, err, out)
	}
	driver, sqlDSN := engine, dsn
	switch engine {
	case "mysql":
		cfg, err := mysql.ParseDSN(dsn)
		check(err)
		cfg.MultiStatements = true
		sqlDSN = cfg.FormatDSN()
	case "postgres":
		driver = "pgx"
	}
	db, err := sql.Open(driver, sqlDSN)
	check(err)
	defer db.Close()
	began := time.Now()
	loadUsers(db, engine, n)
	loaded := time.Since(began)
	var count int64
	check(db.QueryRow("SELECT COUNT(*) FROM users").Scan(&count))
	fmt.Printf("%s: %d rows in users, loaded in %s\n", engine, count, loaded.Round(100*time.Millisecond))

	s := b.start("scale-"+engine, b.path("jwtauth"), nil, env, "/healthz")
	defer s.stop()
	admin := s.accountsNamed("scale_admin", "user", "admin")
	rows := []scaleRow{{engine: engine, scenario: fmt.Sprintf("%d users loaded by bulk SQL", count),
		note: "load took " + loaded.Round(100*time.Millisecond).String()}}
	// A cursor 90% of the way through: the first page's cursor with its id
	// moved would not verify, so follow the pages there, 100 at a time.
	deepNext := adminGet(s.addr, admin, "/api/admin/users?size=100").next
	for range n * 9 / 10 / 100 {
		deepNext = adminGet(s.addr, admin, "/api/admin/users?size=100&cursor="+deepNext).next
	}
	deepPage := 10_000/20 - 1                // the deepest numbered page
	some := fmt.Sprintf("user%07d", n/2)[:9] // the 100 users from user...00 to user...99
	for _, sc := range []struct{ label, path, target string }{
		{"admin list, first page", "/api/admin/users", "<= 50ms"},
		{"admin list, page deep in the list (next of 90% in)", "/api/admin/users?cursor=" + deepNext, "<= 50ms"},
		{"admin search that matches (q=" + some + ": 100 users)", "/api/admin/users?q=" + some, "<= 50ms"},
		{"admin search that matches nothing (q=nobody)", "/api/admin/users?q=nobody", "<= 50ms"},
		{"admin search that matches everyone (q=user)", "/api/admin/users?q=user", "<= 50ms"},
		{fmt.Sprintf("admin list, numbered page %d (the deepest)", deepPage), fmt.Sprintf("/api/admin/users?page=%d", deepPage), "<= 50ms"},
	} {
		m, last := timeCalls(func() page { return adminGet(s.addr, admin, sc.path) })
		r := scaleRow{engine: engine, scenario: "GET " + sc.label, median: m, target: sc.target,
			note: fmt.Sprintf("%d users in the page, totalItems %d", last.users, last.total)}
		if sc.target != "" {
			r.verdict = verdict(m <= scaleTarget)
		} else {
			r.note += "; not a target, shown for scale"
		}
		rows = append(rows, r)
	}
	signin := fmt.Sprintf(`{"username":"user%07d","password":"%s"}`, n/2, password)
	m, _ := timeCalls(func() page {
		return page{status: s.postStatus("/api/auth/signin", signin)}
	})
	rows = append(rows, scaleRow{engine: engine, scenario: "POST /api/auth/signin, a loaded user (bcrypt cost 10)", median: m,
		note: "one bcrypt compare; make bench has the pure compare rate"})
	user := s.accountsNamed("scale_user", "user")
	m, _ = timeCalls(func() page { return adminGet(s.addr, user, "/api/test/user") })
	rows = append(rows, scaleRow{engine: engine, scenario: "GET /api/test/user", median: m})
	return rows
}

// loadUsers inserts n users named user0000001... (email
// user0000001@example.com, all with the bench password at cost 10), each
// holding the user role, with the SQL each engine generates rows with
// fastest, then refreshes the planner's statistics, as a bulk import
// should end.
func loadUsers(db *sql.DB, engine string, n int) {
	hash, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	check(err)
	now := time.Now().UTC().Format("2006-01-02 15:04:05")
	cols := "username, email, password, usernameKey, emailKey, createdAt, updatedAt"
	row := func(i string) string {
		name := "'user' || substr('0000000' || " + i + ", -7)"
		return fmt.Sprintf("%s, %s || '@example.com', '%s', %s, %s || '@example.com', '%s', '%s'", name, name, hash, name, name, now, now)
	}
	var stmts []string
	switch engine {
	case "sqlite":
		stmts = []string{
			"BEGIN",
			fmt.Sprintf("WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < %d) "+
				"INSERT INTO users (%s) SELECT %s FROM s", n, cols, row("i")),
			fmt.Sprintf("INSERT INTO user_roles (createdAt, updatedAt, roleId, userId) SELECT '%s', '%s', 1, id FROM users", now, now),
			"COMMIT", "ANALYZE",
		}
	case "mysql":
		// Six digits cross-joined count to a million; repeated for more.
		digits := "(SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 " +
			"UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)"
		seq := fmt.Sprintf("(SELECT a.d + 10*b.d + 100*c.d + 1000*e.d + 10000*f.d + 100000*g.d AS i FROM %s a, %s b, %s c, %s e, %s f, %s g) s",
			digits, digits, digits, digits, digits, digits)
		name := "CONCAT('user', LPAD(s.i + %d, 7, '0'))"
		stmts = []string{"SET SESSION unique_checks = 0", "SET SESSION foreign_key_checks = 0"}
		for base := 0; base < n; base += 1_000_000 {
			nm := fmt.Sprintf(name, base+1)
			stmts = append(stmts, fmt.Sprintf("INSERT INTO users (username, email, password, usernameKey, emailKey, createdAt, updatedAt) "+
				"SELECT %s, CONCAT(%s, '@example.com'), '%s', %s, CONCAT(%s, '@example.com'), '%s', '%s' FROM %s WHERE s.i < %d",
				nm, nm, hash, nm, nm, now, now, seq, min(1_000_000, n-base)))
		}
		stmts = append(stmts,
			fmt.Sprintf("INSERT INTO user_roles (createdAt, updatedAt, roleId, userId) SELECT '%s', '%s', 1, id FROM users", now, now),
			"SET SESSION unique_checks = 1", "SET SESSION foreign_key_checks = 1", "ANALYZE TABLE users, user_roles")
	case "postgres":
		cols = `username, email, password, "usernameKey", "emailKey", "createdAt", "updatedAt"`
		name := "'user' || lpad(i::text, 7, '0')"
		stmts = []string{
			fmt.Sprintf(`INSERT INTO users (%s) SELECT %s, %s || '@example.com', '%s', %s, %s || '@example.com', '%s', '%s' `+
				`FROM generate_series(1, %d) i`, cols, name, name, hash, name, name, now, now, n),
			fmt.Sprintf(`INSERT INTO user_roles ("createdAt", "updatedAt", "roleId", "userId") SELECT '%s', '%s', 1, id FROM users`, now, now),
			"ANALYZE users", "ANALYZE user_roles",
		}
	}
	conn, err := db.Conn(context.Background())
	check(err)
	defer conn.Close()
	for _, q := range stmts {
		if _, err := conn.ExecContext(context.Background(), q); err != nil {
			fail("%s: load users: %v\n%.300s", engine, err, q)
		}
	}
}

// page is what the scale scenarios read from an answer.
type page struct {
	status       int
	users, total int
	next         string
}

func adminGet(addr, token, path string) page {
	req, err := http.NewRequest("GET", "http://"+addr+path, nil)
	check(err)
	req.Header.Set("x-access-token", token)
	resp, err := http.DefaultClient.Do(req)
	check(err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	check(err)
	if resp.StatusCode != 200 {
		fail("GET %s: %d %s", path, resp.StatusCode, body)
	}
	var p struct {
		TotalItems int
		Users      []struct{ ID int64 }
		Next       *string
	}
	if strings.HasPrefix(path, "/api/admin/") {
		if err := json.Unmarshal(body, &p); err != nil {
			fail("GET %s: %v", path, err)
		}
	}
	out := page{status: resp.StatusCode, users: len(p.Users), total: p.TotalItems}
	if p.Next != nil {
		out.next = *p.Next
	}
	return out
}

func (s *server) postStatus(path, body string) int {
	resp, err := http.Post("http://"+s.addr+path, "application/json", strings.NewReader(body))
	check(err)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		fail("POST %s: %d", path, resp.StatusCode)
	}
	return resp.StatusCode
}

// timeCalls makes one call to warm up, then scaleCalls timed ones, one
// at a time, and returns their median and the last answer.
func timeCalls(call func() page) (time.Duration, page) {
	last := call()
	times := make([]time.Duration, scaleCalls)
	for i := range times {
		began := time.Now()
		last = call()
		times[i] = time.Since(began)
	}
	slices.Sort(times)
	return times[len(times)/2], last
}

// accountsNamed signs up one account with the given roles and returns its
// access token.
func (s *server) accountsNamed(name string, roles ...string) string {
	quoted := make([]string, len(roles))
	for i, r := range roles {
		quoted[i] = strconv.Quote(r)
	}
	body := fmt.Sprintf(`{"username":"%s","email":"%s@example.com","password":"%s","roles":[%s]}`,
		name, name, password, strings.Join(quoted, ","))
	s.postStatus("/api/auth/signup", body)
	resp, err := http.Post("http://"+s.addr+"/api/auth/signin", "application/json",
		strings.NewReader(fmt.Sprintf(`{"username":"%s","password":"%s"}`, name, password)))
	check(err)
	defer resp.Body.Close()
	var r struct{ AccessToken string }
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.AccessToken == "" {
		fail("signin of %s: %v", name, err)
	}
	return r.AccessToken
}
