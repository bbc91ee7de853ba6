package storetest

import (
	"net"
	"strconv"
	"sync"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"jwtauth/internal/store"
)

// Proxy forwards TCP connections to a database server and can be switched
// off and on, so a test can take the database away from a running server
// and give it back: an outage without stopping the shared server. It can
// also stall, as a server whose process is stopped does.
type Proxy struct {
	tb     testing.TB
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	// flow is closed while bytes flow; while stalled it is open, and the
	// pipes hold what they read until it closes. replies is the same for
	// the server's answers alone.
	flow, replies chan struct{}
}

// NewProxy starts a proxy in front of the server of a MySQL or PostgreSQL
// DSN and returns it with a DSN that goes through it.
func NewProxy(tb testing.TB, driver, dsn string) (*Proxy, string) {
	tb.Helper()
	p := &Proxy{tb: tb, addr: "127.0.0.1:0", conns: map[net.Conn]struct{}{}, flow: make(chan struct{}), replies: make(chan struct{})}
	close(p.flow)
	close(p.replies)
	switch driver {
	case store.DriverMySQL:
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			tb.Fatal(err)
		}
		p.target = cfg.Addr
		p.Up()
		cfg.Addr = p.addr
		dsn = cfg.FormatDSN()
	case store.DriverPostgres:
		cfg, err := pgconn.ParseConfig(dsn)
		if err != nil {
			tb.Fatal(err)
		}
		p.target = net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
		p.Up()
		host, port, _ := net.SplitHostPort(p.addr)
		dsn = withPostgresParams(tb, dsn, map[string]string{"host": host, "port": port})
	default:
		tb.Fatalf("storetest: no proxy for %q", driver)
	}
	tb.Cleanup(p.Down)
	return p, dsn
}

// Up accepts connections again, on the same address.
func (p *Proxy) Up() {
	p.tb.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.tb.Fatalf("proxy listen: %v", err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go p.accept(ln)
}

// Down refuses new connections and cuts every open one. It ends a stall.
func (p *Proxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
	p.resumeLocked()
}

// Stall stops forwarding bytes while keeping every connection open and
// accepting new ones, as a database server whose process is stopped
// (SIGSTOP, a frozen VM, a full network buffer) does: the kernel still
// completes handshakes, but nothing answers. What the pipes read meanwhile
// is held, not lost, and goes on at Resume.
func (p *Proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	hold(&p.flow)
}

// StallReplies holds the server's answers only: statements still reach
// the server and run, but the client hears nothing back, as when a
// connection breaks just after a COMMIT was sent. Cutting connections
// (Down) then leaves clients that cannot know whether they committed.
func (p *Proxy) StallReplies() {
	p.mu.Lock()
	defer p.mu.Unlock()
	hold(&p.replies)
}

func hold(gate *chan struct{}) {
	select {
	case <-*gate:
		*gate = make(chan struct{})
	default: // already held
	}
}

// Resume forwards bytes again after a Stall or StallReplies, held ones first.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.resumeLocked()
}

func (p *Proxy) resumeLocked() {
	for _, gate := range []chan struct{}{p.flow, p.replies} {
		select {
		case <-gate:
		default:
			close(gate)
		}
	}
}

// gates returns channels that are closed once bytes may flow, in either
// direction and from the server.
func (p *Proxy) gates() (flow, replies <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.flow, p.replies
}

func (p *Proxy) accept(ln net.Listener) {
	for {
		client, err := ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		p.mu.Lock()
		p.conns[client], p.conns[server] = struct{}{}, struct{}{}
		p.mu.Unlock()
		go p.pipe(server, client, false)
		go p.pipe(client, server, true)
	}
}

// pipe copies src to dst, holding each chunk while the proxy is stalled
// (or, for the server's replies, while they are held).
func (p *Proxy) pipe(dst, src net.Conn, replies bool) {
	defer src.Close()
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			flow, held := p.gates()
			<-flow
			if replies {
				<-held
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
