package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// closedWithin reads c until the server closes it, for at most limit, and
// returns the response the server sent first (nil if none could be read)
// and its body. A connection still open after limit fails the test.
func closedWithin(t *testing.T, c net.Conn, limit time.Duration) (*http.Response, string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(limit))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	var body []byte
	if err == nil {
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	for err == nil {
		_, err = br.ReadByte()
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the server kept the connection open for %s", limit)
	}
	return resp, string(body)
}

// A client that sends its body a byte at a time is cut off once
// HTTP_READ_TIMEOUT has passed: on a route that never reads the body (net/http
// drains it after the handler) as on one that does.
func TestSlowBodyIsCutOff(t *testing.T) {
	url, _, _ := start(t, map[string]string{
		"DB_DSN": filepath.Join(t.TempDir(), "jwtauth.db"), "BCRYPT_COST": "4",
		"HTTP_READ_TIMEOUT": "2s",
	})
	addr := strings.TrimPrefix(url, "http://")
	for _, tt := range []struct {
		method, path string
		status       int // expected if the response could be read
	}{
		{"GET", "/api/test/all", http.StatusOK},
		{"POST", "/api/auth/signin", http.StatusRequestTimeout},
		{"GET", "/api/test/user", http.StatusForbidden},
		{"PUT", "/api/test/all", http.StatusMethodNotAllowed},
		{"POST", "/nowhere", http.StatusNotFound},
	} {
		t.Run(tt.method+tt.path, func(t *testing.T) {
			t.Parallel()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, err = io.WriteString(c, tt.method+" "+tt.path+" HTTP/1.1\r\nHost: jwtauth\r\n"+
				"Content-Type: application/json\r\nContent-Length: 200000\r\n\r\n{")
			if err != nil {
				t.Fatal(err)
			}
			// One byte every 300ms, for at most 15s (the bound below is 10s).
			done := make(chan struct{})
			defer close(done)
			go func() {
				tick := time.NewTicker(300 * time.Millisecond)
				defer tick.Stop()
				for range 50 {
					select {
					case <-done:
						return
					case <-tick.C:
					}
					if _, err := c.Write([]byte(" ")); err != nil {
						return
					}
				}
			}()
			resp, body := closedWithin(t, c, 10*time.Second)
			if resp == nil {
				t.Fatal("no response before the close")
			}
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.status >= 400 && (resp.Header.Get("Content-Type") != "application/json; charset=utf-8" ||
				!strings.HasPrefix(body, `{"message":"`)) {
				t.Errorf("%s %q is not a JSON message", resp.Header.Get("Content-Type"), body)
			}
		})
	}
}

// dialFrom connects to addr from the loopback address from.
func dialFrom(t *testing.T, addr, from string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// healthz asks c for /healthz (unless refused is set: a refused connection
// is answered without asking) and returns the answer; c stays open when the
// server keeps it.
func healthz(t *testing.T, c net.Conn, refused bool) (*http.Response, string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if !refused {
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: jwtauth\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
	}
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

// holdConns opens n connections from one address, each served once and
// kept open. A connection closed just before (the start helper's) may still
// count for a moment, so a refusal is retried.
func holdConns(t *testing.T, addr, from string, n int) []net.Conn {
	t.Helper()
	var out []net.Conn
	for deadline := time.Now().Add(10 * time.Second); len(out) < n; {
		c := dialFrom(t, addr, from)
		resp, _ := healthz(t, c, false)
		if resp.StatusCode == http.StatusOK {
			out = append(out, c)
			continue
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d connections from %s were served", len(out), n, from)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return out
}

// refusedConn checks that c is answered 503 JSON with Retry-After at once
// and closed.
func refusedConn(t *testing.T, c net.Conn, says string) {
	t.Helper()
	resp, body := healthz(t, c, true)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !resp.Close ||
		resp.Header.Get("Content-Type") != "application/json; charset=utf-8" || !strings.Contains(body, says) {
		t.Errorf("refusal: %d %v %q", resp.StatusCode, resp.Header, body)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Errorf("refused connection still open: %d %v", n, err)
	}
}

func metricsText(t *testing.T, addr string) string {
	t.Helper()
	code, body := get(t, "http://"+addr+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	return body
}

// One address may hold HTTP_MAX_CONNS_PER_IP connections; the next is
// answered 503 and closed, while other addresses are served, and a closed
// connection gives its place back.
func TestConnectionsPerAddressAreCapped(t *testing.T) {
	metricsAddr := freeAddr(t)
	url, _, logs := start(t, map[string]string{
		"DB_DSN": filepath.Join(t.TempDir(), "jwtauth.db"), "HTTP_MAX_CONNS_PER_IP": "5", "METRICS_ADDR": metricsAddr,
	})
	addr := strings.TrimPrefix(url, "http://")
	http.DefaultClient.CloseIdleConnections() // start's own, once the server has seen it closed
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(metricsText(t, metricsAddr), "jwtauth_connections_open 0\n"); {
		if time.Now().After(deadline) {
			t.Fatal("connections still open on the API")
		}
		time.Sleep(20 * time.Millisecond)
	}

	held := holdConns(t, addr, "127.0.0.1", 5)
	refusedConn(t, dialFrom(t, addr, "127.0.0.1"), "your address")
	other := holdConns(t, addr, "127.0.0.2", 1)[0]

	// The metrics listener is not capped, and counts the refusal.
	m := metricsText(t, metricsAddr)
	for _, want := range []string{`jwtauth_connections_refused_total{reason="per_address"} 1`,
		`jwtauth_connections_refused_total{reason="total"} 0`, "jwtauth_connections_open 6"} {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
	if !strings.Contains(logs.String(), "cap=per_address limit=5 refused=1 latest=127.0.0.1") {
		t.Errorf("no log line of the refusal:\n%s", logs)
	}

	held[0].Close()
	holdConns(t, addr, "127.0.0.1", 1)
	for _, c := range append(held[1:], other) { // the others were left alone
		if resp, _ := healthz(t, c, false); resp.StatusCode != http.StatusOK {
			t.Errorf("held connection: %d", resp.StatusCode)
		}
	}
}

// All addresses together may hold HTTP_MAX_CONNS connections.
func TestConnectionsInTotalAreCapped(t *testing.T) {
	url, _, _ := start(t, map[string]string{
		"DB_DSN": filepath.Join(t.TempDir(), "jwtauth.db"), "HTTP_MAX_CONNS": "4",
	})
	http.DefaultClient.CloseIdleConnections()
	addr := strings.TrimPrefix(url, "http://")

	held := append(holdConns(t, addr, "127.0.0.1", 2), holdConns(t, addr, "127.0.0.2", 2)...)
	refusedConn(t, dialFrom(t, addr, "127.0.0.3"), "too many connections")
	refusedConn(t, dialFrom(t, addr, "127.0.0.1"), "too many connections")
	held[3].Close()
	holdConns(t, addr, "127.0.0.3", 1)
}

// A client that sends request after request on one connection and never
// reads the answers is cut off once an answer has waited HTTP_WRITE_TIMEOUT
// to be written, instead of holding the connection (and a shutdown) for
// ever.
func TestUnreadAnswersAreCutOff(t *testing.T) {
	url, stop, _ := start(t, map[string]string{
		"DB_DSN": filepath.Join(t.TempDir(), "jwtauth.db"), "BCRYPT_COST": "4",
		"HTTP_READ_TIMEOUT": "1s", "HTTP_WRITE_TIMEOUT": "2s",
	})
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		// A small receive window, so the server's writes block soon.
		return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	c, err := d.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// 400 requests for the 36 KB OpenAPI document: far more than the
	// socket buffers hold.
	if _, err := io.WriteString(c, strings.Repeat("GET /api/openapi.json HTTP/1.1\r\nHost: jwtauth\r\n\r\n", 400)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * time.Second) // past the write timeout, reading nothing
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the connection was still open 14s after the client stopped reading (%d bytes read)", len(got))
	}
	if n := strings.Count(string(got), "HTTP/1.1 200 OK"); n >= 400 {
		t.Errorf("all %d answers were written to a client that did not read them", n)
	}
	if err := stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
}
