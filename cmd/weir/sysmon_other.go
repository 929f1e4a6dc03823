//go:build !unix

package main

// keepSysmonAwake does nothing where exec(2) does not exist.
func keepSysmonAwake() error { return nil }
