package httpapi

import (
	"regexp"
	"sync"
	"testing"
)

// Ids handed out a batch at a time are still all distinct, under
// concurrency and across batches, and appending to one (Header.Add)
// leaves the next one alone.
func TestRequestIDsAcrossBatches(t *testing.T) {
	g := &requestIDSource{prefix: randomHex(6)}
	format := regexp.MustCompile(`^[0-9a-f]{12}-[0-9a-z]+$`)
	const workers, each = 8, 3 * requestIDBatch
	got := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				id := g.next()
				if len(id) != 1 || cap(id) != 1 {
					t.Errorf("id %q: length %d, capacity %d, want 1 and 1", id, len(id), cap(id))
					return
				}
				got[w] = append(got[w], id[0])
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, ids := range got {
		for _, id := range ids {
			if seen[id] || !format.MatchString(id) {
				t.Fatalf("id %q repeated or malformed", id)
			}
			seen[id] = true
		}
	}
	if len(seen) != workers*each {
		t.Errorf("%d distinct ids, want %d", len(seen), workers*each)
	}
	a := g.next()
	_ = append(a, "added")
	if b := g.next(); b[0] == "added" || b[0] == a[0] {
		t.Errorf("appending to id %q changed the next one: %q", a[0], b[0])
	}
}
