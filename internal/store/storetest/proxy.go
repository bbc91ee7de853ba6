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
	// pipes hold what they read until it closes.
	flow chan struct{}
}

// NewProxy starts a proxy in front of the server of a MySQL or PostgreSQL
// DSN and returns it with a DSN that goes through it.
func NewProxy(tb testing.TB, driver, dsn string) (*Proxy, string) {
	tb.Helper()
	p := &Proxy{tb: tb, addr: "127.0.0.1:0", conns: map[net.Conn]struct{}{}, flow: make(chan struct{})}
	close(p.flow)
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
	select {
	case <-p.flow:
		p.flow = make(chan struct{})
	default: // already stalled
	}
}

// Resume forwards bytes again after a Stall, held ones first.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.resumeLocked()
}

func (p *Proxy) resumeLocked() {
	select {
	case <-p.flow:
	default:
		close(p.flow)
	}
}

// flowing returns a channel that is closed once bytes may flow.
func (p *Proxy) flowing() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.flow
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
		go p.pipe(client, server)
		go p.pipe(server, client)
	}
}

// pipe copies src to dst, holding each chunk while the proxy is stalled.
func (p *Proxy) pipe(dst, src net.Conn) {
	defer src.Close()
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			<-p.flowing()
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
