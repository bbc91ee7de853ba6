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
