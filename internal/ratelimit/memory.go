package ratelimit

import (
	"context"
	"time"

	"github.com/maypok86/otter/v2"
	"golang.org/x/time/rate"
)

// memoryBytes bounds the memory a Memory store's counters take, whatever
// keys clients make up. Keys reach the store as fixed-size digests (see
// Rule), so this is about 100,000 counters. Past it the cache forgets the
// least valuable ones (otter's W-TinyLFU keeps the frequently used), which
// at worst hands a forgotten key a full bucket again.
const memoryBytes = 16 << 20

// entryBytes estimates what one counter costs besides its key: the
// limiter, the bucket record and the cache's node and its bookkeeping.
const entryBytes = 200

// bucket is one key's counter and the period after which an untouched
// bucket is full again, and so no different from a missing one.
type bucket struct {
	lim    *rate.Limiter
	period time.Duration
}

// Memory counts in process memory, with x/time/rate token buckets.
type Memory struct {
	now     func() time.Time
	buckets *otter.Cache[string, bucket]
}

// NewMemory returns an in-process store on the clock now (nil: time.Now).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{
		now: now,
		buckets: otter.Must(&otter.Options[string, bucket]{
			MaximumWeight: memoryBytes,
			Weigher:       func(key string, _ bucket) uint32 { return uint32(len(key) + entryBytes) },
			// A bucket left alone for its period has refilled: forget it
			// then rather than after a fixed, longer time.
			ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, bucket]) time.Duration {
				return e.Value.period
			}),
		}),
	}
}

// Allow implements Store. A refused attempt costs nothing and stores
// nothing new: only an allowed one creates or refreshes its key's bucket.
func (m *Memory) Allow(_ context.Context, key string, r Rate) (Decision, error) {
	now := m.now()
	var d Decision
	m.buckets.Compute(key, func(old bucket, found bool) (bucket, otter.ComputeOp) {
		if !found {
			old = bucket{lim: rate.NewLimiter(rate.Every(r.Period/time.Duration(r.Count)), r.Count), period: r.Period}
		}
		res := old.lim.ReserveN(now, 1)
		if delay := res.DelayFrom(now); delay > 0 {
			res.CancelAt(now)
			d = Decision{RetryAfter: delay}
			return old, otter.CancelOp
		}
		d = Decision{Allowed: true}
		return old, otter.WriteOp // a write restarts the bucket's expiry
	})
	return d, nil
}

// Refund implements Store.
func (m *Memory) Refund(_ context.Context, key string, _ Rate) error {
	now := m.now()
	m.buckets.Compute(key, func(old bucket, found bool) (bucket, otter.ComputeOp) {
		if found {
			// A negative reservation adds a token; the limiter caps the
			// bucket at its burst again when it next refills it.
			old.lim.ReserveN(now, -1)
		}
		return old, otter.CancelOp
	})
	return nil
}

// Reset implements Store.
func (m *Memory) Reset(_ context.Context, key string) error {
	m.buckets.Invalidate(key)
	return nil
}

// WeightedSize is roughly the bytes the counters take now (for tests and
// metrics).
func (m *Memory) WeightedSize() uint64 { return m.buckets.WeightedSize() }
