package ratelimit_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"jwtauth/internal/ratelimit"
)

func TestParseRate(t *testing.T) {
	for in, want := range map[string]ratelimit.Rate{
		"10/15m": {Count: 10, Period: 15 * time.Minute},
		"100/1h": {Count: 100, Period: time.Hour},
		" 5/1s ": {Count: 5, Period: time.Second},
		"off":    {},
		"0":      {},
	} {
		got, err := ratelimit.ParseRate(in)
		if err != nil || got != want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "10", "10/", "/1m", "-1/1m", "ten/1m", "10/5ms", "10/forever"} {
		if _, err := ratelimit.ParseRate(bad); err == nil {
			t.Errorf("ParseRate(%q) accepted", bad)
		}
	}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestMemoryTripsAndRefills(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	rule := ratelimit.NewRule("signin-user", ratelimit.Rate{Count: 3, Period: time.Minute}, ratelimit.NewMemory(c.Now))
	ctx := context.Background()
	for i := range 3 {
		if d, _ := rule.Allow(ctx, "alice"); !d.Allowed {
			t.Fatalf("attempt %d refused", i+1)
		}
	}
	d, _ := rule.Allow(ctx, "alice")
	if d.Allowed || d.RetryAfter != 20*time.Second {
		t.Fatalf("4th attempt: %+v, want refused with 20s to wait", d)
	}
	if d, _ := rule.Allow(ctx, "bob"); !d.Allowed {
		t.Error("another key shares alice's count")
	}
	c.Advance(19 * time.Second)
	if d, _ := rule.Allow(ctx, "alice"); d.Allowed {
		t.Error("allowed before the bucket refilled")
	}
	c.Advance(time.Second)
	if d, _ := rule.Allow(ctx, "alice"); !d.Allowed {
		t.Error("refused after one attempt's worth of refill")
	}
	if d, _ := rule.Allow(ctx, "alice"); d.Allowed {
		t.Error("refill gave more than one attempt")
	}
	rule.Reset(ctx, "alice")
	for i := range 3 {
		if d, _ := rule.Allow(ctx, "alice"); !d.Allowed {
			t.Fatalf("after reset, attempt %d refused", i+1)
		}
	}
}

func TestUnlimitedRule(t *testing.T) {
	rule := ratelimit.NewRule("off", ratelimit.Rate{}, ratelimit.NewMemory(nil))
	for range 1000 {
		if d, _ := rule.Allow(context.Background(), "k"); !d.Allowed {
			t.Fatal("an unlimited rule refused")
		}
	}
}

// Parallel attempts are counted atomically: exactly Count get through.
func testAtomic(t *testing.T, stores ...ratelimit.Store) {
	const count, attempts = 10, 200
	key := randomKey()
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for i := range attempts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rule := ratelimit.NewRule("atomic", ratelimit.Rate{Count: count, Period: time.Hour}, stores[i%len(stores)])
			d, err := rule.Allow(context.Background(), key)
			if err != nil {
				t.Error(err)
			}
			if d.Allowed {
				allowed.Add(1)
			}
		}()
	}
	wg.Wait()
	if got := allowed.Load(); got != count {
		t.Errorf("%d of %d parallel attempts allowed, want %d", got, attempts, count)
	}
}

func TestMemoryIsAtomic(t *testing.T) { testAtomic(t, ratelimit.NewMemory(nil)) }

func randomKey() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// redisURL is the Redis the tests may use, from TEST_REDIS_URL.
func redisURL(t *testing.T) string {
	url := os.Getenv("TEST_REDIS_URL")
	if url == "" {
		t.Skip("TEST_REDIS_URL not set: Redis test skipped")
	}
	return url
}

func newRedis(t *testing.T, url string) *ratelimit.Redis {
	t.Helper()
	r, err := ratelimit.NewRedis(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if err := r.Ping(context.Background()); err != nil {
		t.Fatalf("TEST_REDIS_URL: %v", err)
	}
	return r
}

// Two instances on one Redis share one count per key.
func TestRedisSharedBetweenInstances(t *testing.T) {
	url := redisURL(t)
	a, b := newRedis(t, url), newRedis(t, url)
	rate := ratelimit.Rate{Count: 5, Period: time.Minute}
	ruleA, ruleB := ratelimit.NewRule("shared", rate, a), ratelimit.NewRule("shared", rate, b)
	ctx, key := context.Background(), randomKey()
	for i, rule := range []ratelimit.Rule{ruleA, ruleB, ruleA, ruleB, ruleA} {
		if d, err := rule.Allow(ctx, key); err != nil || !d.Allowed {
			t.Fatalf("attempt %d: %+v %v", i+1, d, err)
		}
	}
	d, err := ruleB.Allow(ctx, key)
	if err != nil || d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > 12*time.Second {
		t.Fatalf("6th attempt on the other instance: %+v %v; want refused, retry within 12s", d, err)
	}
	if err := ruleA.Reset(ctx, key); err != nil {
		t.Fatal(err)
	}
	if d, _ := ruleB.Allow(ctx, key); !d.Allowed {
		t.Error("a reset on one instance did not reach the other")
	}
	testAtomic(t, a, b)
}

// With Redis unreachable, limits still apply, counted in memory, and the
// switch is logged once.
func TestFallbackWhenRedisIsDown(t *testing.T) {
	ratelimit.LogRedisTo(slog.New(slog.DiscardHandler)) // the client's dial errors are expected here
	down, err := ratelimit.NewRedis("redis://127.0.0.1:1/0")
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	var logs bytes.Buffer
	f := ratelimit.NewFallback(down, ratelimit.NewMemory(nil), slog.New(slog.NewTextHandler(&logs, nil)))
	rule := ratelimit.NewRule("signin-ip", ratelimit.Rate{Count: 2, Period: time.Minute}, f)
	ctx := context.Background()
	start := time.Now()
	for i := range 2 {
		if d, err := rule.Allow(ctx, "10.0.0.1"); err != nil || !d.Allowed {
			t.Fatalf("attempt %d: %+v %v", i+1, d, err)
		}
	}
	if d, _ := rule.Allow(ctx, "10.0.0.1"); d.Allowed {
		t.Error("the fallback does not limit")
	}
	if !f.Degraded() {
		t.Error("Degraded() = false with Redis down")
	}
	if n := strings.Count(logs.String(), "fall back"); n != 1 {
		t.Errorf("fallback logged %d times, want once:\n%s", n, logs.String())
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("three attempts took %s with Redis down", elapsed)
	}
}

// A fallback over a working Redis counts in Redis.
func TestFallbackUsesRedisWhenUp(t *testing.T) {
	url := redisURL(t)
	shared := newRedis(t, url)
	f := ratelimit.NewFallback(shared, ratelimit.NewMemory(nil), slog.New(slog.DiscardHandler))
	rate := ratelimit.Rate{Count: 1, Period: time.Minute}
	key := randomKey()
	if d, _ := ratelimit.NewRule("fb", rate, f).Allow(context.Background(), key); !d.Allowed {
		t.Fatal("first attempt refused")
	}
	if d, _ := ratelimit.NewRule("fb", rate, newRedis(t, url)).Allow(context.Background(), key); d.Allowed {
		t.Error("the count did not reach Redis")
	}
	if f.Degraded() {
		t.Error("Degraded() = true with Redis up")
	}
}

// A refund gives back exactly the attempt it stands for: the bucket is as
// if that attempt had never been made, never fuller than its burst.
func testRefund(t *testing.T, store ratelimit.Store) {
	rule := ratelimit.NewRule("refund", ratelimit.Rate{Count: 3, Period: time.Hour}, store)
	ctx, key := context.Background(), randomKey()
	for i := range 3 {
		if d, err := rule.Allow(ctx, key); err != nil || !d.Allowed {
			t.Fatalf("attempt %d: %+v %v", i+1, d, err)
		}
	}
	if err := rule.Refund(ctx, key); err != nil {
		t.Fatal(err)
	}
	if d, _ := rule.Allow(ctx, key); !d.Allowed {
		t.Error("the refunded attempt was not given back")
	}
	if d, _ := rule.Allow(ctx, key); d.Allowed {
		t.Error("a refund gave back more than one attempt")
	}
	// Refunding the only attempt of a bucket leaves it full: three more.
	other := randomKey()
	rule.Allow(ctx, other)
	if err := rule.Refund(ctx, other); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if d, _ := rule.Allow(ctx, other); !d.Allowed {
			t.Errorf("after refunding the only attempt, attempt %d refused", i+1)
		}
	}
	if d, _ := rule.Allow(ctx, other); d.Allowed {
		t.Error("the bucket holds more than its burst after a refund")
	}
}

func TestMemoryRefund(t *testing.T) { testRefund(t, ratelimit.NewMemory(nil)) }

func TestRedisRefund(t *testing.T) { testRefund(t, newRedis(t, redisURL(t))) }
