package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestServeKeepsSysmonAwake starts weir serve (this test binary standing in
// for it, see TestMain) and reads the environment of the process that
// serves: weir serve re-executed itself, keeping its PID, with
// schedtrace added to GODEBUG and the user's own GODEBUG settings kept;
// with weir.sysmon.awake=false, or when GODEBUG already sets schedtrace,
// it does not.
func TestServeKeepsSysmonAwake(t *testing.T) {
	for _, tc := range []struct {
		name, godebug string
		args          []string
		want          string // GODEBUG of the serving process
	}{
		{"default", "", nil, sysmonAwakeSetting},
		{"user GODEBUG kept", "gctrace=0", nil, "gctrace=0," + sysmonAwakeSetting},
		{"off", "", []string{"--set", "weir.sysmon.awake=false"}, ""},
		{"user schedtrace wins", "schedtrace=1000000", nil, "schedtrace=1000000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exe, err := os.Executable()
			if err != nil {
				t.Fatal(err)
			}
			args := append([]string{"serve", "--listen", "127.0.0.1:0", "--data", t.TempDir()}, tc.args...)
			cmd := exec.Command(exe, args...)
			_, cmd.Env = cutGODEBUG(os.Environ())
			if tc.godebug != "" {
				cmd.Env = append(cmd.Env, "GODEBUG="+tc.godebug)
			}
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				cmd.Process.Signal(os.Interrupt)
				if err := cmd.Wait(); err != nil {
					t.Errorf("weir serve: %v\n%s", err, stderr.String())
				}
			}()
			line, err := bufio.NewReader(stdout).ReadString('\n')
			if !strings.HasPrefix(line, "weir: serving") {
				t.Fatalf("first line %q, %v\n%s", line, err, stderr.String())
			}
			environ, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/environ")
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			for _, kv := range bytes.Split(environ, []byte{0}) {
				if v, ok := bytes.CutPrefix(kv, []byte("GODEBUG=")); ok {
					got = string(v)
				}
			}
			if got != tc.want {
				t.Errorf("GODEBUG of the serving process = %q, want %q", got, tc.want)
			}
		})
	}
}
