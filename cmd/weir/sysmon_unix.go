//go:build unix

package main

import (
	"os"
	"strings"
	"syscall"
)

// sysmonAwakeSetting keeps the Go runtime's system monitor thread (sysmon)
// out of deep sleep. sysmon falls into deep sleep whenever every P is
// idle, and the next goroutine to enter a system call wakes it with its
// sleep reset to 20 µs, where it stays until every P is idle again. A
// broker that goes idle between requests hundreds of times a second keeps
// sysmon at 20 µs, and on a virtual machine each wake-up costs about 20 µs
// of CPU. With schedtrace set, sysmon never deep-sleeps, so its sleep
// doubles to 10 ms and stays there unless it takes a P back from a long
// system call. The runtime reads schedtrace only at start, hence the
// re-execution. The value is the largest it takes, in ms (24.8 days):
// the scheduler line it prints every period goes to stderr, once at start
// when the machine has been up longer than that. docs/DECISIONS.md has
// the measurements.
const sysmonAwakeSetting = "schedtrace=2147483647"

// keepSysmonAwake re-executes this process with sysmonAwakeSetting added
// to GODEBUG, unless GODEBUG already sets schedtrace (after the
// re-execution, or set by the user) or the process is not "weir serve"
// (a test binary calling runServe, say). It returns only if it did not
// re-execute: nil when there was nothing to do, else why not.
func keepSysmonAwake() error {
	if len(os.Args) < 2 || os.Args[1] != "serve" {
		return nil
	}
	godebug, env := cutGODEBUG(os.Environ())
	for _, s := range strings.Split(godebug, ",") {
		if strings.HasPrefix(strings.TrimSpace(s), "schedtrace=") {
			return nil
		}
	}
	if godebug != "" {
		godebug += ","
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	return syscall.Exec(exe, os.Args, append(env, "GODEBUG="+godebug+sysmonAwakeSetting))
}

// cutGODEBUG returns GODEBUG's value in env and env without it.
func cutGODEBUG(env []string) (godebug string, rest []string) {
	rest = make([]string, 0, len(env)+1)
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
			godebug = v
			continue
		}
		rest = append(rest, kv)
	}
	return godebug, rest
}
