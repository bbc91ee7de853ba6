package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// keyPrefix namespaces jwtauth's counters in a shared Redis.
const keyPrefix = "jwtauth:"

// Redis counts in Redis with GCRA (go-redis/redis_rate), so every instance
// pointed at the same Redis shares one count per key.
type Redis struct {
	client  *redis.Client
	limiter *redis_rate.Limiter
}

// redisTimeout bounds every Redis call: a slow or unreachable Redis must
// cost a signin milliseconds, not seconds, before the fallback takes over.
const redisTimeout = 250 * time.Millisecond

// NewRedis connects to the Redis at url (redis://[user:pass@]host:port[/db]).
// It does not wait for Redis to answer: see Ping.
func NewRedis(url string) (*Redis, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = redisTimeout, redisTimeout, redisTimeout
	opts.PoolTimeout = redisTimeout
	opts.MaxRetries = -1 // no retries: the fallback is the retry
	opts.DialerRetries, opts.DialerRetryTimeout = 1, time.Millisecond
	client := redis.NewClient(opts)
	return &Redis{client: client, limiter: redis_rate.NewLimiter(client)}, nil
}

// Ping checks that Redis answers.
func (r *Redis) Ping(ctx context.Context) error { return r.client.Ping(ctx).Err() }

// Close releases the connections.
func (r *Redis) Close() error { return r.client.Close() }

// Allow implements Store.
func (r *Redis) Allow(ctx context.Context, key string, rate Rate) (Decision, error) {
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	res, err := r.limiter.Allow(ctx, keyPrefix+key, redis_rate.Limit{Rate: rate.Count, Burst: rate.Count, Period: rate.Period})
	if err != nil {
		return Decision{}, err
	}
	if res.Allowed > 0 {
		return Decision{Allowed: true}, nil
	}
	return Decision{RetryAfter: res.RetryAfter}, nil
}

// refund takes one emission interval off a GCRA key that redis_rate keeps
// (its "rate:" prefix, its time origin): the attempt it stood for never
// happened. A bucket that is full again is deleted. (redis_rate's AllowN
// with a negative cost cannot do this: it does not write a result at or
// before now, so the last attempt of a bucket would stay counted.)
var refund = redis.NewScript(`
local tat = redis.call("GET", KEYS[1])
if not tat then
  return 0
end
local now = redis.call("TIME")
now = (now[1] - 1483228800) + (now[2] / 1000000)
local new_tat = tonumber(tat) - tonumber(ARGV[1])
if new_tat <= now then
  redis.call("DEL", KEYS[1])
else
  redis.call("SET", KEYS[1], new_tat, "EX", math.ceil(new_tat - now))
end
return 1
`)

// Refund implements Store.
func (r *Redis) Refund(ctx context.Context, key string, rate Rate) error {
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	interval := (rate.Period / time.Duration(rate.Count)).Seconds()
	return refund.Run(ctx, r.client, []string{"rate:" + keyPrefix + key}, interval).Err()
}

// Reset implements Store.
func (r *Redis) Reset(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	return r.limiter.Reset(ctx, keyPrefix+key)
}

// Fallback counts in a shared store and, while that store fails, in local
// memory: with Redis down every instance still limits (each on its own
// count) instead of failing every signin or limiting nothing. After a
// failure it leaves the shared store alone for a few seconds, so that an
// outage does not add a timeout to every request.
type Fallback struct {
	shared Store
	local  *Memory
	log    *slog.Logger
	now    func() time.Time

	mu        sync.Mutex
	downUntil time.Time
}

// fallbackPause is how long the shared store is left alone after a failure.
const fallbackPause = 5 * time.Second

// NewFallback returns a store that prefers shared and falls back to local.
func NewFallback(shared Store, local *Memory, log *slog.Logger) *Fallback {
	return &Fallback{shared: shared, local: local, log: log, now: time.Now}
}

// Degraded reports whether counting is local because the shared store
// failed recently.
func (f *Fallback) Degraded() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now().Before(f.downUntil)
}

func (f *Fallback) failed(err error) {
	f.mu.Lock()
	wasUp := !f.now().Before(f.downUntil)
	f.downUntil = f.now().Add(fallbackPause)
	f.mu.Unlock()
	if wasUp {
		f.log.Warn("rate limits fall back to in-process counters: shared store unreachable", "error", err.Error())
	}
}

// Allow implements Store.
func (f *Fallback) Allow(ctx context.Context, key string, rate Rate) (Decision, error) {
	if !f.Degraded() {
		d, err := f.shared.Allow(ctx, key, rate)
		if err == nil {
			return d, nil
		}
		f.failed(err)
	}
	return f.local.Allow(ctx, key, rate)
}

// Refund implements Store: in the store that counted the attempt, as far
// as it can tell (the shared one while it is up).
func (f *Fallback) Refund(ctx context.Context, key string, rate Rate) error {
	if !f.Degraded() {
		err := f.shared.Refund(ctx, key, rate)
		if err == nil {
			return nil
		}
		f.failed(err)
	}
	return f.local.Refund(ctx, key, rate)
}

// Reset implements Store: both counts are reset, the shared one when it is up.
func (f *Fallback) Reset(ctx context.Context, key string) error {
	if !f.Degraded() {
		if err := f.shared.Reset(ctx, key); err != nil {
			f.failed(err)
		}
	}
	return f.local.Reset(ctx, key)
}

// LogRedisTo sends the Redis client's own messages (a failed dial, say) to
// log instead of bare lines on stderr. The client keeps one logger per
// process, so the program's wiring calls this once.
func LogRedisTo(log *slog.Logger) { redis.SetLogger(redisLogger{log}) }

type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.LogAttrs(ctx, slog.LevelDebug, "redis client", slog.String("message", fmt.Sprintf(format, v...)))
}
