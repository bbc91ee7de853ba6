//go:build !linux

package store

import (
	"syscall"
	"time"
)

// setUserTimeout does nothing where TCP_USER_TIMEOUT does not exist; the
// keepalives still find a dead connection once it is idle.
func setUserTimeout(time.Duration) func(network, address string, c syscall.RawConn) error {
	return nil
}
