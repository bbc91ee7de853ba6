package httpapi

import (
	"strconv"
	"sync"
)

// requestIDBatch is how many request ids one batch holds.
const requestIDBatch = 64

// requestIDs makes ids unique across instances and restarts without a
// random read per request: a random prefix per process and a counter. It
// formats them a batch at a time, into one string and one slice, so that
// a request's id (and the one-element value the header map holds) costs
// no allocation of its own: the hottest routes allocate a handful of
// times per request, and every one of them is garbage to collect.
var requestIDs = &requestIDSource{prefix: randomHex(6)}

type requestIDSource struct {
	prefix string
	mu     sync.Mutex
	n      uint64
	free   []string // ids formatted and not handed out yet
}

// next returns a fresh id as a header value: a slice of length and
// capacity 1, so that appending to it (Header.Add) copies rather than
// writing over the next request's id.
func (g *requestIDSource) next() []string {
	g.mu.Lock()
	if len(g.free) == 0 {
		g.refill()
	}
	id := g.free[:1:1]
	g.free = g.free[1:]
	g.mu.Unlock()
	return id
}

func (g *requestIDSource) refill() {
	buf := make([]byte, 0, requestIDBatch*(len(g.prefix)+8))
	var ends [requestIDBatch]int
	for i := range ends {
		g.n++
		buf = append(buf, g.prefix...)
		buf = append(buf, '-')
		buf = strconv.AppendUint(buf, g.n, 36)
		ends[i] = len(buf)
	}
	all := string(buf)
	g.free = make([]string, requestIDBatch)
	start := 0
	for i, end := range ends {
		g.free[i], start = all[start:end], end
	}
}
