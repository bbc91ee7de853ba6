package main

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// flood sends a signin flood at four times the hashing capacity, arriving
// whatever the server answers, to accounts prefix0..prefix{created-1}, and
// measures token checks (user) beside it. It returns the two rows: the
// token checks, with the p99 target, and the flood itself.
func (b *bench) flood(engine string, j *server, user target, prefix string, created int, compareRate float64) []row {
	floodRate := 4 * compareRate
	var flood result
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		flood = loadAt(j.addr, target{method: "POST", path: "/api/auth/signin", body: func(i int) string {
			return fmt.Sprintf(`{"username":"%s%d","password":"wrong-password"}`, prefix, i%max(created, 1))
		}}, 256, *duration+5*time.Second, floodRate)
	}()
	time.Sleep(4 * time.Second) // let the hashing queue fill
	during := load(j.addr, user, 4, *duration)
	wg.Wait()
	r := measured{result: during, rate: during.rps()}.row(engine, "GET /api/test/user during the flood below (4 conns)", 0, "p99 < 20ms", "")
	r.verdict = verdict(during.quantile(0.99) < 20*time.Millisecond)
	return []row{r,
		{engine: engine, scenario: fmt.Sprintf("  the flood: POST /api/auth/signin at %.0f/s (4x bcrypt)", floodRate), rate: flood.rps(), unit: "/s",
			p50: flood.quantile(0.5), p99: flood.quantile(0.99), errors: flood.errors, note: statusSummary(flood.statuses)}}
}

// runFlood is make bench's flood scenario alone, *floodRuns times on one
// engine, with the median of the token checks' p99s: a quicker and, on a
// shared machine, steadier figure than the one run of the full bench.
// Each run starts once the authorization cache of the one before has
// expired (AUTHZ_CACHE_TTL's default, 5s), so its token checks query the
// database as the full bench's do.
func (b *bench) runFlood(engine, dsn string) {
	env := []string{"DB_DRIVER=" + engine, "DB_DSN=" + dsn}
	setup := b.start("setup-"+engine, b.path("jwtauth"), nil, append(env, jwtauthEnv(4)...), "/healthz")
	userTokens := setup.accounts("u", *users, "user")
	setup.stop()

	j := b.start("jwtauth-"+engine, b.path("jwtauth"), nil, append(env, jwtauthEnv(cost)...), "/healthz")
	defer j.stop()
	user := target{method: "GET", path: "/api/test/user", header: rotate(userTokens)}
	compareRate := b.bcryptRate("bcrypt-compare")
	// The flood's accounts, hashed at the flood's cost by the server itself.
	prefix := fmt.Sprintf("f%d_%s_", time.Now().UnixNano()%1e6, engine)
	signup := j.measure(target{method: "POST", path: "/api/auth/signup", body: func(i int) string {
		return fmt.Sprintf(`{"username":"%s%d","email":"%s%d@example.com","password":"%s"}`, prefix, i, prefix, i, password)
	}}, 2, 5*time.Second)
	created := signup.statuses[200]

	var p99s []time.Duration
	for i := range *floodRuns {
		time.Sleep(6 * time.Second) // the authorization cache forgets the last run's tokens
		rows := b.flood(engine, j, user, prefix, created, compareRate)
		rows[0].scenario = fmt.Sprintf("GET /api/test/user during the flood, run %d (4 conns)", i+1)
		rows[0].target, rows[0].verdict = "", ""
		b.rows = append(b.rows, rows...)
		p99s = append(p99s, rows[0].p99)
	}
	sorted := slices.Clone(p99s)
	slices.Sort(sorted)
	m := sorted[len(sorted)/2]
	parts := make([]string, len(p99s))
	for i, p := range p99s {
		parts[i] = dur(p)
	}
	b.rows = append(b.rows, row{engine: engine, scenario: fmt.Sprintf("GET /api/test/user p99 during the flood, median of %d runs", len(p99s)),
		measuredDirectly: true, value: dur(m), target: "p99 < 20ms", verdict: verdict(m < 20*time.Millisecond),
		note: "runs: " + strings.Join(parts, " ")})
}
