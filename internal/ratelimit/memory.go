package ratelimit

import (
	"context"
	"time"

	"github.com/maypok86/otter/v2"
	"golang.org/x/time/rate"
)

// memoryKeys bounds the keys a Memory store tracks. Past it the least
// recently used are forgotten, which at worst hands a long-idle key a full
// bucket again; it keeps a flood of invented usernames from exhausting
// memory.
const memoryKeys = 200_000

// Memory counts in process memory, with x/time/rate token buckets.
type Memory struct {
	now     func() time.Time
	buckets *otter.Cache[string, *rate.Limiter]
}

// NewMemory returns an in-process store on the clock now (nil: time.Now).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{
		now: now,
		buckets: otter.Must(&otter.Options[string, *rate.Limiter]{
			MaximumSize: memoryKeys,
			// A bucket untouched for a day is full again under any rate a
			// config would sensibly set; forget it.
			ExpiryCalculator: otter.ExpiryAccessing[string, *rate.Limiter](24 * time.Hour),
		}),
	}
}

// Allow implements Store.
func (m *Memory) Allow(_ context.Context, key string, r Rate) (Decision, error) {
	lim, _ := m.buckets.Compute(key, func(old *rate.Limiter, found bool) (*rate.Limiter, otter.ComputeOp) {
		if found {
			return old, otter.CancelOp
		}
		return rate.NewLimiter(rate.Every(r.Period/time.Duration(r.Count)), r.Count), otter.WriteOp
	})
	now := m.now()
	res := lim.ReserveN(now, 1)
	if delay := res.DelayFrom(now); delay > 0 {
		res.CancelAt(now)
		return Decision{RetryAfter: delay}, nil
	}
	return Decision{Allowed: true}, nil
}

// Reset implements Store.
func (m *Memory) Reset(_ context.Context, key string) error {
	m.buckets.Invalidate(key)
	return nil
}
