package main

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"jwtauth/internal/logtest"
)

// makeRun starts `make run` in the repository with env, in a process group
// of its own (as a terminal runs it), its binary built into a temporary
// directory. Its output, stdout and stderr together, is in the returned
// buffer once cmd.Wait returns.
func makeRun(t *testing.T, env map[string]string) (*exec.Cmd, *logtest.Buffer) {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("make is not installed")
		}
		t.Skip("make is not installed")
	}
	cmd := exec.Command("make", "--no-print-directory", "-C", "../..", "run", "BIN="+filepath.Join(t.TempDir(), "jwtauth"))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for _, k := range []string{"GOCACHE", "GOMODCACHE", "GOPATH", "GOFLAGS", "GOPROXY"} {
		if v, ok := os.LookupEnv(k); ok {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &logtest.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	return cmd, out
}

// A configuration error under make run shows jwtauth's own line and
// nothing of make's or go's ("exit status 1", "make: *** ... Error 1"),
// and make still exits non-zero, for a script to see.
func TestMakeRunShowsOnlyJwtauthsError(t *testing.T) {
	cmd, out := makeRun(t, map[string]string{"PORT": "http"})
	if err := cmd.Wait(); err == nil {
		t.Error("make run exited 0 after jwtauth failed")
	}
	want := `jwtauth: invalid configuration: PORT: must be a number from 1 to 65535, got "http"` + "\n"
	if got := out.String(); got != want {
		t.Errorf("make run with a bad PORT printed:\n%s\nwant only:\n%s", got, want)
	}
}

// Ctrl-C under make run stops the server cleanly, and nothing reports it
// as an error.
func TestMakeRunStopsCleanlyOnInterrupt(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd, out := makeRun(t, map[string]string{
		"PORT": strconv.Itoa(port), "DB_DSN": filepath.Join(t.TempDir(), "jwtauth.db"),
	})
	deadline := time.Now().Add(3 * time.Minute) // the first build of a fresh checkout
	for !strings.Contains(out.String(), `msg="jwtauth listening"`) {
		if time.Now().After(deadline) {
			t.Fatalf("make run did not start in 3 minutes:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGINT) // what the terminal does on Ctrl-C
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("make run still running 30s after Ctrl-C:\n%s", out.String())
	}
	text := out.String()
	if !strings.Contains(text, "msg=stopped") {
		t.Errorf("the server did not say it stopped:\n%s", text)
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		if line := sc.Text(); !strings.HasPrefix(line, "time=") {
			t.Errorf("a line that is not jwtauth's log after Ctrl-C: %q", line)
		}
	}
}
