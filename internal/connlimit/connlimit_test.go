package connlimit

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestKey(t *testing.T) {
	tests := []struct{ addr, key string }{
		{"127.0.0.1", "127.0.0.1"},
		{"192.0.2.7", "192.0.2.7"},
		{"::ffff:192.0.2.7", "192.0.2.7"}, // IPv4 through a dual-stack socket
		{"::1", "::"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::"},
		{"2001:db8:1:3::1", "2001:db8:1:3::"},
		{"fe80::1%eth0", "fe80::"},
	}
	for _, tt := range tests {
		if got := Key(netip.MustParseAddr(tt.addr)); got != netip.MustParseAddr(tt.key) {
			t.Errorf("Key(%s) = %s, want %s", tt.addr, got, tt.key)
		}
	}
}

func TestExempt(t *testing.T) {
	l, err := New(nil, Options{Exempt: []string{"10.0.0.0/8", "192.168.1.10", "::ffff:172.16.0.1", "fd00::/8"}})
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"10.1.2.3": true, "11.0.0.1": false, "192.168.1.10": true, "192.168.1.11": false,
		"172.16.0.1": true, "fd12::1": true, "fe80::1": false, "2001:db8::1": false,
	} {
		if got := l.isExempt(netip.MustParseAddr(addr)); got != want {
			t.Errorf("isExempt(%s) = %v, want %v", addr, got, want)
		}
	}
	if _, err := New(nil, Options{Exempt: []string{"proxy.local"}}); err == nil {
		t.Error("a host name was accepted as an exempt address")
	}
}

// server serves "ok" through a Listener with opts on a loopback address
// and returns the Listener, its address and the refusals it reported.
func server(t *testing.T, network, addr string, opts Options) (*Listener, string, func() map[Reason]int) {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	refused := map[Reason]int{}
	opts.Refused = func(r Reason) { mu.Lock(); refused[r]++; mu.Unlock() }
	opts.RetryAfter = 4500 * time.Millisecond // Retry-After: 5, rounded up
	l, err := New(ln, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l, ln.Addr().String(), func() map[Reason]int {
		mu.Lock()
		defer mu.Unlock()
		return map[Reason]int{PerAddress: refused[PerAddress], Total: refused[Total]}
	}
}

// dial connects to addr from the loopback address from ("" for any).
func dial(t *testing.T, addr, from string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// get sends a request on c and returns the answer's status and body; c
// stays open when the server keeps it.
func get(t *testing.T, c net.Conn) (*http.Response, string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	return read(t, c)
}

func read(t *testing.T, c net.Conn) (*http.Response, string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// refusedWith checks that c was answered the 503 of reason (without having
// sent anything) and then closed.
func refusedWith(t *testing.T, c net.Conn, reason Reason) {
	t.Helper()
	resp, body := read(t, c)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "5" || !resp.Close ||
		resp.Header.Get("Content-Type") != "application/json; charset=utf-8" || !strings.HasPrefix(body, `{"message":"`) {
		t.Errorf("refusal: %d %v %q", resp.StatusCode, resp.Header, body)
	}
	if want := map[Reason]string{PerAddress: "your address", Total: "too many connections"}[reason]; !strings.Contains(body, want) {
		t.Errorf("refusal %q does not say %q", body, want)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Errorf("refused connection still open: %d %v", n, err)
	}
}

func served(t *testing.T, c net.Conn) {
	t.Helper()
	if resp, body := get(t, c); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("not served: %d %q", resp.StatusCode, body)
	}
}

// eventuallyServed dials from until a connection is served: a closed
// connection is given back once the server has seen it close.
func eventuallyServed(t *testing.T, addr, from string) net.Conn {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c := dial(t, addr, from)
		if resp, _ := get(t, c); resp.StatusCode == 200 {
			return c
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("no connection from %s served after one was closed", from)
		}
	}
}

func TestCaps(t *testing.T) {
	var logs strings.Builder
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return logs.Write(p)
	}), nil))
	l, addr, refused := server(t, "tcp", "127.0.0.1:0", Options{PerAddress: 2, Total: 3, Logger: logger})

	a1, a2 := dial(t, addr, "127.0.0.1"), dial(t, addr, "127.0.0.1")
	served(t, a1)
	served(t, a2)
	refusedWith(t, dial(t, addr, "127.0.0.1"), PerAddress)
	refusedWith(t, dial(t, addr, "127.0.0.1"), PerAddress)
	b1 := dial(t, addr, "127.0.0.2") // another client is not held back
	served(t, b1)
	refusedWith(t, dial(t, addr, "127.0.0.3"), Total)
	if n := l.Open(); n != 3 {
		t.Errorf("Open() = %d, want 3", n)
	}

	if got := refused(); got[PerAddress] != 2 || got[Total] != 1 {
		t.Errorf("refusals reported: %v", got)
	}
	logMu.Lock()
	out := logs.String()
	logMu.Unlock()
	// One line per cap: the second per-address refusal came within the minute.
	if strings.Count(out, "cap=per_address limit=2 refused=1 latest=127.0.0.1") != 1 ||
		strings.Count(out, "cap=total limit=3 refused=1 latest=127.0.0.3") != 1 || strings.Count(out, "\n") != 2 {
		t.Errorf("log:\n%s", out)
	}

	// Closing a connection gives its place back, to its own address.
	a1.Close()
	eventuallyServed(t, addr, "127.0.0.1")
	served(t, a2) // the others were left alone
	served(t, b1)
	refusedWith(t, dial(t, addr, "127.0.0.2"), Total)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// Exempt addresses (reverse proxies) are held only to the total.
func TestExemptAddressesCountInTheTotal(t *testing.T) {
	_, addr, _ := server(t, "tcp", "127.0.0.1:0", Options{PerAddress: 1, Total: 3, Exempt: []string{"127.0.0.0/30"}})
	for range 3 {
		served(t, dial(t, addr, "127.0.0.1"))
	}
	refusedWith(t, dial(t, addr, "127.0.0.1"), Total)
	refusedWith(t, dial(t, addr, "127.0.0.5"), Total)
}

// IPv6 clients count by /64: ::1 is one client.
func TestIPv6Loopback(t *testing.T) {
	_, addr, _ := server(t, "tcp6", "[::1]:0", Options{PerAddress: 1})
	served(t, dial(t, addr, ""))
	refusedWith(t, dial(t, addr, ""), PerAddress)
}

// A client that sent its request before reading still reads the 503 (a
// close with its request unread could reset the connection), and Accept
// goes on while refused clients do not read at all.
func TestRefusalIsReadAfterARequest(t *testing.T) {
	_, addr, _ := server(t, "tcp", "127.0.0.1:0", Options{PerAddress: 1})
	served(t, dial(t, addr, "127.0.0.1"))
	c := dial(t, addr, "127.0.0.1")
	if resp, _ := get(t, c); resp.StatusCode != 503 {
		t.Errorf("status %d, want 503", resp.StatusCode)
	}
	for range lingerSlots + 10 { // more than the drain slots; none of them reads
		c := dial(t, addr, "127.0.0.1")
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: test\r\n\r\n")
	}
	served(t, dial(t, addr, "127.0.0.2"))
}
