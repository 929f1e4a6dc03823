package main

import (
	"os"
	"testing"
)

// TestMain lets this test binary stand in for the weir binary. weir bench
// starts its null, kfake and weir targets by re-executing os.Executable()
// ("weir bench serve-null -addr HOST:PORT", "weir serve --listen …"), and
// under go test that is this test binary, started with no environment of
// ours. So when the first argument is a weir command name, the binary runs
// that command as main does instead of the tests. go test invokes a test
// binary with -test.* flags only, so a test run is never mistaken for a
// command (unless one passes a command name through go test -args).
// Without this, a re-executed test binary would run every test again.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && isCommand(os.Args[1]) {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func isCommand(name string) bool {
	for _, c := range commands {
		if c.name == name {
			return true
		}
	}
	return false
}
