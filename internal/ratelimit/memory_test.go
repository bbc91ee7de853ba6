package ratelimit_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"jwtauth/internal/ratelimit"
)

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// A flood of distinct, long keys (invented usernames of a kilobyte and
// more) takes a bounded amount of memory, not one entry per key.
func TestMemoryBoundedUnderAFloodOfKeys(t *testing.T) {
	const keys, keyBytes = 100_000, 2048
	mem := ratelimit.NewMemory(nil)
	rule := ratelimit.NewRule("signin-user", ratelimit.Rate{Count: 10, Period: 15 * time.Minute}, mem)
	pad := strings.Repeat("\uFDFA", keyBytes/3)
	ctx := context.Background()
	before := heapInUse()
	for i := range keys {
		if d, _ := rule.Allow(ctx, fmt.Sprintf("%s%d", pad, i)); !d.Allowed {
			t.Fatalf("key %d refused on its first attempt", i)
		}
	}
	grown := int64(heapInUse()) - int64(before)
	// 100,000 keys of 2 KB would be over 200 MB kept; the bound is 16 MiB
	// of counters plus the cache's fixed structures.
	if grown > 48<<20 {
		t.Errorf("heap grew by %d MB for %d keys; want it bounded (under 48 MB)", grown>>20, keys)
	}
	runtime.KeepAlive(mem)
}

func TestAddressKey(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1":            "127.0.0.1",
		"::ffff:192.0.2.7":     "192.0.2.7",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "2001:db8:1:2::/64",
		"2001:db8:1:3::1":      "2001:db8:1:3::/64",
		"fe80::1%eth0":         "fe80::/64",
		"::1":                  "::/64",
		"not an address":       "not an address",
	} {
		if got := ratelimit.AddressKey(in); got != want {
			t.Errorf("AddressKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// Single allows one attempt per the rule's period.
func TestSingle(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	rule := ratelimit.NewRule("pair", ratelimit.Rate{Count: 10, Period: 15 * time.Minute}, ratelimit.NewMemory(c.Now)).Single("pair-last")
	ctx := context.Background()
	if d, _ := rule.Allow(ctx, "k"); !d.Allowed {
		t.Fatal("first attempt refused")
	}
	if d, _ := rule.Allow(ctx, "k"); d.Allowed || d.RetryAfter != 15*time.Minute {
		t.Fatalf("second attempt: %+v, want refused for 15m", d)
	}
	if rule.Name() != "pair-last" {
		t.Errorf("name %q", rule.Name())
	}
}
