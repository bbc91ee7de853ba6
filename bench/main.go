// Command bench measures jwtauth against the floor (a bare Gin handler) and
// against pure bcrypt, in one run, and prints one table: make bench.
//
// The servers run pinned to CPU 0 with GOMAXPROCS=1 (taskset, when present
// and there are two CPUs; jwtauth raises its GOMAXPROCS to one more than
// its single hashing worker, still on that one CPU); this program, which
// generates the load, pins itself to CPU 1. Throughput runs alternate floor and jwtauth for a few
// rounds and report the median, because the machine may be shared.
package main

import (
	"bufio"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"github.com/valyala/fasthttp"
)

const (
	password = "bench-password-1"
	cost     = 10
)

var (
	duration = flag.Duration("duration", 3*time.Second, "length of each throughput run")
	rounds   = flag.Int("rounds", 5, "rounds of throughput runs (the median is reported)")
	conns    = flag.Int("connections", 64, "connections of the throughput runs")
	users    = flag.Int("users", 1000, "distinct users (and admins) whose tokens the board runs rotate through")
	mysqlDSN = flag.String("mysql", firstNonEmpty(os.Getenv("BENCH_MYSQL_DSN"), os.Getenv("TEST_MYSQL_DSN")),
		"MySQL/MariaDB DSN to repeat the jwtauth runs on (default: $BENCH_MYSQL_DSN or $TEST_MYSQL_DSN)")
	postgresDSN = flag.String("postgres", firstNonEmpty(os.Getenv("BENCH_POSTGRES_DSN"), os.Getenv("TEST_POSTGRES_DSN")),
		"PostgreSQL DSN (URL form) to repeat the jwtauth runs on (default: $BENCH_POSTGRES_DSN or $TEST_POSTGRES_DSN)")
	keep       = flag.Bool("keep", false, "keep the work directory (binaries, databases, server logs)")
	scaleUsers = flag.Int("scale", 0, "instead of the throughput runs, load this many users into each engine and time the admin API (make bench-scale)")
	floodRuns  = flag.Int("flood", 0, "instead of the full run, run only the signin flood this many times per engine and report the median p99")
	profile    = flag.String("profile", "", "write CPU profiles of jwtauth during the board runs (SQLite) into this directory")
)

func main() {
	flag.Parse()
	pinned := pinSelf()
	dir, err := os.MkdirTemp("", "jwtauth-bench")
	check(err)
	if !*keep {
		defer os.RemoveAll(dir)
	} else {
		fmt.Println("work directory:", dir)
	}
	b := &bench{dir: dir, pinned: pinned}
	b.build()
	if *scaleUsers > 0 {
		b.runScale(*scaleUsers)
		return
	}
	b.header()
	if *floodRuns > 0 {
		b.runFlood("sqlite", filepath.Join(dir, "bench.db"))
		if *mysqlDSN != "" {
			b.runFlood("mysql", b.mysqlDatabase())
		}
		if *postgresDSN != "" {
			b.runFlood("postgres", b.postgresDatabase())
		}
		b.print()
		return
	}

	floor := b.start("floor", b.path("floor"), []string{"serve", b.addr()}, nil, "/api/test/all")
	defer floor.stop()
	b.run("sqlite", filepath.Join(dir, "bench.db"), floor)
	if *mysqlDSN != "" {
		b.run("mysql", b.mysqlDatabase(), floor)
	}
	if *postgresDSN != "" {
		b.run("postgres", b.postgresDatabase(), floor)
	}
	b.print()
}

type bench struct {
	dir    string
	pinned bool
	rows   []row
}

// row is one line of the table.
type row struct {
	engine, scenario string
	rate             float64 // per second
	unit             string
	p50, p99         time.Duration
	errors           int
	cpu              time.Duration // server CPU per request
	ratio            float64
	target, verdict  string
	note             string
	measuredDirectly bool // value is not a rate (memory, start time)
	value            string
}

func (b *bench) path(name string) string { return filepath.Join(b.dir, name) }

func (b *bench) addr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer ln.Close()
	return ln.Addr().String()
}

func (b *bench) build() {
	for _, pkg := range [][2]string{{"jwtauth", "./cmd/jwtauth"}, {"floor", "./bench/floor"}} {
		// As make build builds it: static, without Gin's unused MessagePack binding.
		cmd := exec.Command("go", "build", "-tags", "nomsgpack", "-trimpath", "-o", b.path(pkg[0]), pkg[1])
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			fail("build %s: %v\n%s", pkg[1], err, out)
		}
	}
}

func (b *bench) header() {
	cpu := "unknown CPU"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		s := bufio.NewScanner(f)
		for s.Scan() {
			if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	pin := "servers on CPU 0 with GOMAXPROCS=1 (jwtauth raises it to HASH_WORKERS+1 = 2), load on CPU 1 (taskset)"
	if !b.pinned {
		pin = "NOT pinned (no taskset or a single CPU): servers with GOMAXPROCS=1, load unpinned"
	}
	fmt.Printf("jwtauth bench, %s, %s, %d CPUs (%s)\n%s; %d connections; %d rounds of %s, median\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.Version(), cpus, cpu, pin,
		*conns, *rounds, *duration)
}

// run measures jwtauth on one database.
func (b *bench) run(engine, dsn string, floor *server) {
	env := []string{"DB_DRIVER=" + engine, "DB_DSN=" + dsn}

	if engine == "sqlite" {
		b.startTimes(env)
	}

	// Accounts and their tokens, made fast (cost 4) by a setup server.
	setup := b.start("setup-"+engine, b.path("jwtauth"), nil, append(env, jwtauthEnv(4)...), "/healthz")
	userTokens := setup.accounts("u", *users, "user")
	adminTokens := setup.accounts("a", *users, "user", "admin")
	setup.stop()

	jEnv := append(env, jwtauthEnv(cost)...)
	pprofAddr := ""
	if *profile != "" && engine == "sqlite" {
		pprofAddr = b.addr()
		jEnv = append(jEnv, "PPROF_ADDR="+pprofAddr)
	}
	j := b.start("jwtauth-"+engine, b.path("jwtauth"), nil, jEnv, "/healthz")
	defer j.stop()

	all := target{method: "GET", path: "/api/test/all"}
	user := target{method: "GET", path: "/api/test/user", header: rotate(userTokens)}
	admin := target{method: "GET", path: "/api/test/admin", header: rotate(adminTokens)}

	// Warm up, then alternate floor and jwtauth.
	for _, s := range []*server{floor, j} {
		load(s.addr, all, *conns, time.Second)
	}
	load(j.addr, user, *conns, 2*time.Second)
	load(j.addr, admin, *conns, 2*time.Second)
	runs := map[string][]measured{}
	for range *rounds {
		// The floor gets the very same requests (token headers included):
		// reading them is part of what the machine allows.
		for name, t := range map[string]target{"all": all, "user": user, "admin": admin} {
			runs["floor "+name] = append(runs["floor "+name], floor.measure(t, *conns, *duration))
			runs[name] = append(runs[name], j.measure(t, *conns, *duration))
		}
	}
	if pprofAddr != "" {
		check(os.MkdirAll(*profile, 0o755))
		for name, t := range map[string]target{"all": all, "user": user, "admin": admin} {
			done := make(chan struct{})
			go func() { load(j.addr, t, *conns, *duration+2*time.Second); close(done) }()
			time.Sleep(500 * time.Millisecond)
			secs := int(duration.Seconds())
			resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", pprofAddr, max(secs, 1)))
			check(err)
			f, err := os.Create(filepath.Join(*profile, name+".pprof"))
			check(err)
			_, err = io.Copy(f, resp.Body)
			check(err)
			resp.Body.Close()
			f.Close()
			<-done
		}
		fmt.Println("profiles written to", *profile, "(go tool pprof", b.path("jwtauth"), "FILE; -keep keeps the binary)")
	}
	for _, sc := range []struct{ name, label, target string }{
		{"all", "GET /api/test/all", ">= 0.95"},
		{"user", fmt.Sprintf("GET /api/test/user, %d users' tokens", *users), ">= 0.90"},
		{"admin", fmt.Sprintf("GET /api/test/admin, %d admins' tokens", *users), ">= 0.90"},
	} {
		// Each round ran the floor and jwtauth back to back; the ratio is the
		// median of the rounds' ratios, so a slow patch of a shared machine
		// weighs on both sides of a ratio alike.
		var ratios []float64
		for i, m := range runs[sc.name] {
			ratios = append(ratios, m.rate/runs["floor "+sc.name][i].rate)
		}
		slices.Sort(ratios)
		r := median(runs[sc.name]).row(engine, sc.label, 0, sc.target, "")
		r.ratio = ratios[len(ratios)/2]
		if want, err := strconv.ParseFloat(strings.TrimPrefix(sc.target, ">= "), 64); err == nil {
			r.verdict = verdict(r.ratio >= want)
		}
		r.note = fmt.Sprintf("rounds: %s", formatRatios(ratios))
		b.rows = append(b.rows, median(runs["floor "+sc.name]).row(engine, "  floor, the same requests", 0, "", ""), r)
	}

	// Password hashing, against pure bcrypt at the same cost on the same core.
	hashTime := max(2**duration, 10*time.Second)
	hashRate := b.bcryptRate("bcrypt-hash")
	prefix := fmt.Sprintf("s%d_%s_", time.Now().UnixNano()%1e6, engine)
	signup := j.measure(target{method: "POST", path: "/api/auth/signup", body: func(i int) string {
		return fmt.Sprintf(`{"username":"%s%d","email":"%s%d@example.com","password":"%s"}`, prefix, i, prefix, i, password)
	}}, 2, hashTime)
	compareRate := b.bcryptRate("bcrypt-compare")
	created := signup.statuses[200]
	signin := j.measure(target{method: "POST", path: "/api/auth/signin", body: func(i int) string {
		return fmt.Sprintf(`{"username":"%s%d","password":"%s"}`, prefix, i%max(created, 1), password)
	}}, 2, hashTime)
	if engine == "sqlite" {
		b.rows = append(b.rows, row{engine: "-", scenario: fmt.Sprintf("pure bcrypt hash, cost %d", cost), rate: hashRate, unit: "/s"},
			row{engine: "-", scenario: fmt.Sprintf("pure bcrypt compare, cost %d", cost), rate: compareRate, unit: "/s"})
	}
	b.rows = append(b.rows,
		signup.row(engine, "POST /api/auth/signup (vs pure hash)", hashRate, ">= 0.85", ""),
		signin.row(engine, "POST /api/auth/signin (vs pure compare)", compareRate, ">= 0.90", ""))

	b.rows = append(b.rows, b.flood(engine, j, user, prefix, created, compareRate)...)

	rss := j.rss()
	b.rows = append(b.rows, row{engine: engine, scenario: "resident memory after the runs above", measuredDirectly: true,
		value: fmt.Sprintf("%.1f MB", float64(rss)/(1<<20)), target: "< 40 MB", verdict: verdict(rss < 40<<20),
		note: fmt.Sprintf("after %s of load", j.loaded.Round(time.Second))})
}

// startTimes measures start to first answer on a fresh SQLite file.
func (b *bench) startTimes(env []string) {
	var times []time.Duration
	for i := range 5 {
		dsn := b.path(fmt.Sprintf("start%d.db", i))
		e := append(slices.Clone(env), jwtauthEnv(cost)...)
		e = append(e, "DB_DSN="+dsn)
		s := b.start("start", b.path("jwtauth"), nil, e, "/healthz")
		times = append(times, s.startedIn)
		s.stop()
	}
	slices.Sort(times)
	t := times[len(times)/2]
	b.rows = append(b.rows, row{engine: "sqlite", scenario: "start to first answer (fresh database)", measuredDirectly: true,
		value: t.Round(time.Millisecond).String(), target: "< 300ms", verdict: verdict(t < 300*time.Millisecond),
		note: "median of 5"})
}

func (b *bench) bcryptRate(mode string) float64 {
	out, err := pinned(b.pinned, 0, b.path("floor"), mode, strconv.Itoa(cost), "5").Output()
	check(err)
	rate, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	check(err)
	return rate
}

// mysqlDatabase creates a throwaway database and returns its DSN.
func (b *bench) mysqlDatabase() string {
	cfg, err := mysql.ParseDSN(*mysqlDSN)
	check(err)
	cfg.DBName = createDatabase("mysql", cfg.FormatDSN(), "")
	cfg.ParseTime = true
	return cfg.FormatDSN()
}

// postgresDatabase creates a throwaway database and returns its DSN.
func (b *bench) postgresDatabase() string {
	u, err := url.Parse(*postgresDSN)
	check(err)
	u.Path = "/" + createDatabase("pgx", u.String(), " WITH (FORCE)")
	return u.String()
}

// createDatabase creates a database through the database/sql driver and
// returns its name. Unless -keep, it is dropped at the end (with
// dropOptions), through a connection of its own: see print.
func createDatabase(driver, dsn, dropOptions string) string {
	db, err := sql.Open(driver, dsn)
	check(err)
	defer db.Close()
	name := fmt.Sprintf("jwtauth_bench_%d", time.Now().UnixNano()%1e9)
	_, err = db.Exec("CREATE DATABASE " + name)
	check(err)
	if !*keep {
		dropLater = append(dropLater, func() {
			if db, err := sql.Open(driver, dsn); err == nil {
				db.Exec("DROP DATABASE " + name + dropOptions)
				db.Close()
			}
		})
	}
	return name
}

var dropLater []func()

// secret signs the tokens of every server of one run. It is drawn per run:
// jwtauth refuses a secret written down in its repository.
var secret = func() string {
	b := make([]byte, 48)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}()

func jwtauthEnv(bcryptCost int) []string {
	return []string{
		"JWT_SECRET=" + secret, "BCRYPT_COST=" + strconv.Itoa(bcryptCost),
		"SIGNUP_ALLOW_ROLES=user,moderator,admin",
		// All the load comes from one address.
		"RATE_LIMIT_SIGNIN_IP=off", "RATE_LIMIT_SIGNIN_USER=off", "RATE_LIMIT_SIGNUP_IP=off", "RATE_LIMIT_REFRESH_IP=off",
	}
}

func rotate(tokens []string) func(int) (string, string) {
	return func(i int) (string, string) { return "x-access-token", tokens[i%len(tokens)] }
}

// server is a running server process.
type server struct {
	name, addr string
	cmd        *exec.Cmd
	startedIn  time.Duration
	loaded     time.Duration
}

func (b *bench) start(name, bin string, args, env []string, probe string) *server {
	s := &server{name: name}
	if args == nil { // jwtauth: configured by the environment
		s.addr = b.addr()
		env = append(env, "ADDR="+s.addr)
	} else {
		s.addr = args[len(args)-1]
	}
	s.cmd = pinned(b.pinned, 0, bin, args...)
	s.cmd.Env = append(os.Environ(), env...)
	s.cmd.Env = append(s.cmd.Env, "GOMAXPROCS=1")
	logFile, err := os.Create(b.path(name + ".log"))
	check(err)
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	began := time.Now()
	check(s.cmd.Start())
	running.Lock()
	running.servers = append(running.servers, s)
	running.Unlock()
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get("http://" + s.addr + probe)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Since(began) > 30*time.Second {
			fail("%s did not start; see its log in %s (run with -keep)", name, b.dir)
		}
		time.Sleep(time.Millisecond)
	}
	s.startedIn = time.Since(began)
	return s
}

func (s *server) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	s.cmd.Wait()
}

// accounts signs up n accounts with the given roles and signs each in,
// returning their access tokens.
func (s *server) accounts(prefix string, n int, roles ...string) []string {
	client := &fasthttp.HostClient{Addr: s.addr, MaxConns: 8}
	tokens := make([]string, n)
	rolesJSON, _ := json.Marshal(roles)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				name := fmt.Sprintf("bench_%s%d_%d", prefix, time.Now().UnixNano()%1e6, i)
				post(client, s.addr, "/api/auth/signup", fmt.Sprintf(`{"username":"%s","email":"%s@example.com","password":"%s","roles":%s}`,
					name, name, password, rolesJSON))
				body := post(client, s.addr, "/api/auth/signin", fmt.Sprintf(`{"username":"%s","password":"%s"}`, name, password))
				var r struct{ AccessToken string }
				if json.Unmarshal(body, &r) != nil || r.AccessToken == "" {
					fail("setup signin of %s: %s", name, body)
				}
				tokens[i] = r.AccessToken
			}
		}()
	}
	wg.Wait()
	return tokens
}

func post(c *fasthttp.HostClient, addr, path, body string) []byte {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + addr + path)
	req.Header.SetMethod("POST")
	req.Header.SetContentType("application/json")
	req.SetBodyString(body)
	if err := c.Do(req, resp); err != nil {
		fail("setup %s: %v", path, err)
	}
	return slices.Clone(resp.Body())
}

// measured is a load result with the server's CPU time per request.
type measured struct {
	result
	rate float64
	cpu  time.Duration
}

func (s *server) measure(t target, conns int, d time.Duration) measured {
	before := s.cpuTime()
	r := load(s.addr, t, conns, d)
	after := s.cpuTime()
	s.loaded += r.elapsed
	m := measured{result: r, rate: r.rps()}
	if r.requests > 0 && before >= 0 {
		m.cpu = (after - before) / time.Duration(r.requests)
	}
	return m
}

func (m measured) row(engine, scenario string, base float64, target, note string) row {
	r := row{engine: engine, scenario: scenario, rate: m.rate, unit: "/s", p50: m.quantile(0.5), p99: m.quantile(0.99),
		errors: m.errors, cpu: m.cpu, target: target, note: note}
	if base > 0 {
		r.ratio = m.rate / base
		if want, err := strconv.ParseFloat(strings.TrimPrefix(target, ">= "), 64); err == nil {
			r.verdict = verdict(r.ratio >= want)
		}
	}
	if m.errors > 0 && r.note == "" {
		r.note = statusSummary(m.statuses)
	}
	return r
}

func median(ms []measured) measured {
	slices.SortFunc(ms, func(a, b measured) int {
		switch {
		case a.rate < b.rate:
			return -1
		case a.rate > b.rate:
			return 1
		}
		return 0
	})
	return ms[len(ms)/2]
}

// cpuTime is the process's CPU time (user + system), or -1 where /proc
// does not tell.
func (s *server) cpuTime() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

func (s *server) rss() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			kb, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return kb << 10
		}
	}
	return -1
}

func statusSummary(statuses map[int]int) string {
	var codes []int
	for c := range statuses {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	var parts []string
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d×%d", statuses[c], c))
	}
	return strings.Join(parts, " ")
}

func formatRatios(rs []float64) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%.2f", r)
	}
	return strings.Join(parts, " ")
}

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISSED"
}

func (b *bench) print() {
	for _, f := range dropLater {
		f()
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "engine\tscenario\tthroughput\tp50\tp99\terrors\tCPU/req\tratio\ttarget\t\tnote")
	for _, r := range b.rows {
		rate, cpu, ratio := "", "", ""
		if r.measuredDirectly {
			rate = r.value
		} else if r.rate > 0 {
			rate = fmt.Sprintf("%.1f%s", r.rate, r.unit)
		}
		if r.cpu > 0 {
			cpu = fmt.Sprintf("%.1fµs", float64(r.cpu)/1e3)
		}
		if r.ratio > 0 {
			ratio = fmt.Sprintf("%.2f", r.ratio)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.engine, r.scenario, rate,
			dur(r.p50), dur(r.p99), errs(r), cpu, ratio, r.target, r.verdict, r.note)
	}
	w.Flush()
	fmt.Println("\nratio: throughput over the floor's (boards: the median of the rounds' ratios, each round running the floor and")
	fmt.Println("jwtauth back to back) or over pure bcrypt at the same cost on the same core (signin, signup).")
	fmt.Println("CPU/req: the server process's CPU time per request, a second view less sensitive to a shared machine.")
}

func dur(d time.Duration) string {
	if d == 0 {
		return ""
	}
	if d < time.Millisecond {
		return fmt.Sprintf("%dµs", d.Microseconds())
	}
	return fmt.Sprintf("%.1fms", float64(d)/1e6)
}

func errs(r row) string {
	if r.measuredDirectly || (r.rate == 0 && r.errors == 0) || r.unit == "" {
		return ""
	}
	return strconv.Itoa(r.errors)
}

// pinned returns a command for bin, on cpu when pinning is possible.
func pinned(pin bool, cpu int, bin string, args ...string) *exec.Cmd {
	if pin {
		return exec.Command("taskset", append([]string{"-c", strconv.Itoa(cpu), bin}, args...)...)
	}
	return exec.Command(bin, args...)
}

// pinSelf re-runs this program on CPU 1 (the load's CPU), once.
func pinSelf() bool {
	if n := os.Getenv("JWTAUTH_BENCH_PINNED"); n != "" {
		cpus, _ = strconv.Atoi(n)
		return true
	}
	cpus = runtime.NumCPU()
	if _, err := exec.LookPath("taskset"); err != nil || cpus < 2 {
		return false
	}
	exe, err := os.Executable()
	check(err)
	taskset, _ := exec.LookPath("taskset")
	env := append(os.Environ(), "JWTAUTH_BENCH_PINNED="+strconv.Itoa(cpus))
	check(syscall.Exec(taskset, append([]string{"taskset", "-c", "1", exe}, os.Args[1:]...), env))
	return true
}

// cpus is the machine's CPU count (before this program pinned itself).
var cpus int

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func check(err error) {
	if err != nil {
		fail("%v", err)
	}
}

// running are the servers started, killed if the bench fails.
var running struct {
	sync.Mutex
	servers []*server
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	running.Lock()
	for _, s := range running.servers {
		s.cmd.Process.Kill()
	}
	os.Exit(1)
}
