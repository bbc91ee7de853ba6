//go:build !unix

package main

// openFileLimit is how many files the process may open: where there is no
// RLIMIT_NOFILE, as good as unlimited.
func openFileLimit() uint64 { return ^uint64(0) }
