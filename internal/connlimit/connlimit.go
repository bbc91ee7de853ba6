// Package connlimit caps how many connections a server holds open, per
// client address and in total, so that one client cannot take every file
// descriptor of the process and starve the others (and the database, which
// needs descriptors too).
//
// A connection over a cap is still accepted, answered at once with a
// minimal HTTP/1.1 503 and closed: refusing by not accepting would let the
// kernel's backlog fill, and then every client would wait, the polite ones
// included.
package connlimit

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Reason says which cap refused a connection; it is the label of the
// refused-connections metric.
type Reason string

// The caps.
const (
	PerAddress Reason = "per_address"
	Total      Reason = "total"
)

// Options configure a Listener. A zero cap means no cap.
type Options struct {
	// PerAddress caps the connections of one client: an IPv4 address, or
	// an IPv6 /64 (what one host, or one customer of a provider, is
	// usually given).
	PerAddress int
	// Total caps all connections, exempt addresses included.
	Total int
	// Exempt are addresses or CIDRs (reverse proxies: every client comes
	// through them) that the per-address cap does not apply to.
	Exempt []string
	// RetryAfter is the Retry-After of the 503 (whole seconds, at least 1).
	RetryAfter time.Duration
	// Refused, when set, is told of each refused connection (a metric).
	Refused func(Reason)
	// Logger, when set, gets at most one line a minute per reason, with the
	// count refused since the last line and the latest address.
	Logger *slog.Logger
}

// lingerSlots is how many refused connections may be draining at once
// before being closed; past it they are closed at once.
const lingerSlots = 64

// refuseWriteTimeout guards the write of the 503. A fresh socket's send
// buffer takes the few hundred bytes at once, so Accept does not wait.
const refuseWriteTimeout = 100 * time.Millisecond

// lingerTime is how long a refused connection may take to send what it had
// sent before reading the 503. Closing a socket with unread data sends a
// reset, which can make the client lose the 503.
const lingerTime = time.Second

// Listener is a net.Listener that counts the connections it hands out
// until they are closed, and refuses those over a cap.
type Listener struct {
	net.Listener
	opts    Options
	exempt  []netip.Prefix
	refused map[Reason][]byte // the 503 for each reason
	linger  chan struct{}

	mu     sync.Mutex
	total  int
	byAddr map[netip.Addr]int
	logs   map[Reason]*logState
}

// logState rate-limits the log line of one reason.
type logState struct {
	last  time.Time
	count int
}

// New wraps ln. It fails only on an exempt entry that is neither an
// address nor a CIDR.
func New(ln net.Listener, opts Options) (*Listener, error) {
	l := &Listener{
		Listener: ln,
		opts:     opts,
		linger:   make(chan struct{}, lingerSlots),
		byAddr:   map[netip.Addr]int{},
		logs:     map[Reason]*logState{PerAddress: {}, Total: {}},
	}
	for _, s := range opts.Exempt {
		p, err := parsePrefix(s)
		if err != nil {
			return nil, err
		}
		l.exempt = append(l.exempt, p)
	}
	retry := max(1, int((opts.RetryAfter+time.Second-1)/time.Second))
	l.refused = map[Reason][]byte{
		PerAddress: response(retry, "Too many connections from your address; close some or retry later."),
		Total:      response(retry, "The server has too many connections; retry later."),
	}
	return l, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		a, aerr := netip.ParseAddr(s)
		if aerr != nil {
			return netip.Prefix{}, fmt.Errorf("%q is neither an IP address nor a CIDR", s)
		}
		p = netip.PrefixFrom(a.WithZone(""), a.BitLen())
	}
	// An IPv4-mapped IPv6 entry matches the IPv4 address it maps, which is
	// how an address is compared (Key unmaps it).
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

func response(retryAfter int, msg string) []byte {
	body := `{"message":"` + msg + `"}`
	return []byte("HTTP/1.1 503 Service Unavailable\r\n" +
		"Content-Type: application/json; charset=utf-8\r\n" +
		"Retry-After: " + strconv.Itoa(retryAfter) + "\r\n" +
		"Connection: close\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}

// Key is the client a connection from a counts under: the IPv4 address
// itself, or the /64 of an IPv6 address (IPv4-mapped IPv6 addresses count
// as IPv4, zones are dropped).
func Key(a netip.Addr) netip.Addr {
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// Accept waits for the next connection within the caps. Connections over
// a cap are answered 503 and closed here, without waiting on them.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := remoteAddr(c)
		key, capped := Key(addr), addr.IsValid() && l.opts.PerAddress > 0 && !l.isExempt(addr)
		reason := l.acquire(key, capped)
		if reason == "" {
			return &conn{Conn: c, l: l, key: key, capped: capped}, nil
		}
		l.refuse(c, reason, addr)
	}
}

func remoteAddr(c net.Conn) netip.Addr {
	if tcp, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return tcp.AddrPort().Addr().Unmap().WithZone("")
	}
	return netip.Addr{}
}

func (l *Listener) isExempt(a netip.Addr) bool {
	for _, p := range l.exempt {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// acquire counts a new connection, or says which cap it is over.
func (l *Listener) acquire(key netip.Addr, capped bool) Reason {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.opts.Total > 0 && l.total >= l.opts.Total {
		return Total
	}
	if capped {
		if l.byAddr[key] >= l.opts.PerAddress {
			return PerAddress
		}
		l.byAddr[key]++
	}
	l.total++
	return ""
}

func (l *Listener) release(key netip.Addr, capped bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if capped {
		if n := l.byAddr[key] - 1; n > 0 {
			l.byAddr[key] = n
		} else {
			delete(l.byAddr, key) // the map holds open clients only
		}
	}
}

// Open is the number of connections open now.
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// refuse answers c 503 and closes it, draining what the client had sent
// first when a slot is free, so that the client reads the 503 rather than
// a reset.
func (l *Listener) refuse(c net.Conn, reason Reason, addr netip.Addr) {
	if l.opts.Refused != nil {
		l.opts.Refused(reason)
	}
	l.logRefusal(reason, addr)
	c.SetWriteDeadline(time.Now().Add(refuseWriteTimeout))
	if _, err := c.Write(l.refused[reason]); err != nil {
		c.Close()
		return
	}
	select {
	case l.linger <- struct{}{}:
		go func() {
			defer func() { <-l.linger }()
			if cw, ok := c.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
			c.SetReadDeadline(time.Now().Add(lingerTime))
			io.CopyN(io.Discard, c, 64<<10)
			c.Close()
		}()
	default:
		c.Close()
	}
}

// logRefusal writes at most one line a minute per reason, so that a flood
// of refusals costs neither log volume nor memory per address.
func (l *Listener) logRefusal(reason Reason, addr netip.Addr) {
	if l.opts.Logger == nil {
		return
	}
	l.mu.Lock()
	s := l.logs[reason]
	s.count++
	now := time.Now()
	if now.Sub(s.last) < time.Minute {
		l.mu.Unlock()
		return
	}
	count := s.count
	s.last, s.count = now, 0
	l.mu.Unlock()
	limit := l.opts.Total
	if reason == PerAddress {
		limit = l.opts.PerAddress
	}
	l.opts.Logger.Warn("refused connections over a cap (one line a minute at most)",
		"cap", string(reason), "limit", limit, "refused", count, "latest", addr.String())
}

// conn gives its place back when closed.
type conn struct {
	net.Conn
	l      *Listener
	key    netip.Addr
	capped bool
	closed atomic.Bool
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		c.l.release(c.key, c.capped)
	}
	return err
}

// CloseWrite keeps what net/http does before closing a connection (send a
// FIN, let the client read the answer) working through the wrapper.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}
