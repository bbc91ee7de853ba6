package main

import (
	"slices"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// target is what one load run sends: a method and path, and optionally a
// body and a header that vary with the request number (distinct users,
// distinct usernames).
type target struct {
	method string
	path   string
	body   func(i int) string
	header func(i int) (string, string)
}

// result is what one load run saw.
type result struct {
	requests int
	errors   int // transport errors and 5xx
	statuses map[int]int
	elapsed  time.Duration
	latency  []time.Duration // sorted
}

func (r result) rps() float64 { return float64(r.requests) / r.elapsed.Seconds() }

func (r result) quantile(q float64) time.Duration {
	if len(r.latency) == 0 {
		return 0
	}
	return r.latency[min(len(r.latency)-1, int(q*float64(len(r.latency))))]
}

// load keeps conns connections busy with t for d, each sending its next
// request as soon as the previous answer arrives (a closed loop, like wrk),
// on fasthttp's client, which is light enough that one core of load
// saturates one core of server.
func load(addr string, t target, conns int, d time.Duration) result {
	return loadAt(addr, t, conns, d, 0)
}

// loadAt is load with the requests started at most rate per second (an
// open loop, the way a flood arrives whatever the server answers); 0 means
// as fast as the connections go.
func loadAt(addr string, t target, conns int, d time.Duration, rate float64) result {
	var tickets chan struct{}
	if rate > 0 {
		tickets = make(chan struct{}, conns)
		stop := time.After(d)
		go func() {
			tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
			defer tick.Stop()
			for {
				select {
				case <-tick.C:
					select {
					case tickets <- struct{}{}:
					default: // every connection is busy: the request is lost, as a flood's would be
					}
				case <-stop:
					close(tickets)
					return
				}
			}
		}()
	}
	client := &fasthttp.HostClient{Addr: addr, MaxConns: conns, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	type partial struct {
		lat      []time.Duration
		errors   int
		statuses map[int]int
	}
	parts := make([]partial, conns)
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := partial{lat: make([]time.Duration, 0, 4096), statuses: map[int]int{}}
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for i := w; ; i += conns {
				if tickets != nil {
					if _, ok := <-tickets; !ok {
						break
					}
				}
				begin := time.Now()
				if begin.After(deadline) {
					break
				}
				req.Reset()
				req.SetRequestURI("http://" + addr + t.path)
				req.Header.SetMethod(t.method)
				if t.header != nil {
					req.Header.Set(t.header(i))
				}
				if t.body != nil {
					req.Header.SetContentType("application/json")
					req.SetBodyString(t.body(i))
				}
				err := client.Do(req, resp)
				p.lat = append(p.lat, time.Since(begin))
				switch {
				case err != nil:
					p.errors++
				default:
					p.statuses[resp.StatusCode()]++
					if resp.StatusCode() >= 500 {
						p.errors++
					}
				}
			}
			parts[w] = p
		}()
	}
	wg.Wait()
	r := result{elapsed: time.Since(start), statuses: map[int]int{}}
	for _, p := range parts {
		r.latency = append(r.latency, p.lat...)
		r.errors += p.errors
		for s, n := range p.statuses {
			r.statuses[s] += n
		}
	}
	r.requests = len(r.latency)
	slices.Sort(r.latency)
	return r
}
