//go:build unix

package main

import "syscall"

// openFileLimit is how many files the process may open: the soft
// RLIMIT_NOFILE, which Go raises to the hard limit at start.
func openFileLimit() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return ^uint64(0) // unknown: as good as unlimited
	}
	return uint64(lim.Cur)
}
