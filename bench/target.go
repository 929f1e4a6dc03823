package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Kind is what a Target runs.
type Kind string

// Target kinds.
const (
	// KindWeir starts `weir serve` (Target.Binary) as a child process with
	// its defaults: durable group commit, acks=all answered after fsync.
	KindWeir Kind = "weir"
	// KindWeirHelper starts a Weir broker in-process in a helper process
	// (Target.Binary is the bench package's compiled test binary, see
	// TestBrokerHelperProcess), which also reports runtime.MemStats and
	// serves pprof: same broker, plus allocation counts and profiles.
	KindWeirHelper Kind = "weir-helper"
	// KindKfake starts franz-go's kfake in a child process: Target.Binary
	// with Target.Args, which must call ServeKfake (weirbench's hidden
	// kfake-server command does). In memory, nothing is fsynced.
	KindKfake Kind = "kfake"
	// KindNull starts the null broker (ServeNull) in a child process, as
	// KindKfake does: the ceiling of what the load generator can drive.
	KindNull Kind = "null"
	// KindNATS starts nats-server (Target.Binary) with JetStream file
	// storage; see natsConfig for the durability it offers.
	KindNATS Kind = "nats"
	// KindKafka is an already running Kafka-protocol broker at Target.Addr;
	// its CPU and memory are not measured unless Target.PID is set.
	KindKafka Kind = "kafka"
)

// Target is the system under test.
type Target struct {
	// Name labels the target in reports. Default: the Kind, with the
	// transport for Weir ("weir-net").
	Name string
	Kind Kind
	// Binary is the program to start (see Kind). Defaults: nats-server
	// from PATH or /usr/sbin; the others have none.
	Binary string
	// Args are extra arguments (KindKfake, KindNull: the subcommand that
	// calls ServeKfake or ServeNull; "-addr HOST:PORT" is appended).
	Args []string
	// Transport is Weir's network layer, "epoll" or "net" (weir serve
	// --transport). Default: Weir's default (epoll on Linux).
	Transport string
	// Addr is the address of a KindKafka target.
	Addr string
	// PID, for KindKafka, is the process to measure (0: none).
	PID int
	// NATSSync, for KindNATS, is JetStream's sync_interval ("always":
	// fsync every write; needs nats-server 2.10 or later). Default: the
	// server's (2 minutes).
	NATSSync string
	// CPUProfile, for KindWeirHelper, is a file to write the broker's CPU
	// profile to, covering the measured phase.
	CPUProfile string
}

func (t *Target) ensureDefaults() {
	if t.Name == "" {
		t.Name = string(t.Kind)
		if t.Transport != "" && (t.Kind == KindWeir || t.Kind == KindWeirHelper) {
			t.Name += "-" + t.Transport
		}
	}
	if t.Kind == KindNATS && t.Binary == "" {
		t.Binary = "nats-server"
		if p, err := exec.LookPath("nats-server"); err == nil {
			t.Binary = p
		} else if _, err := os.Stat("/usr/sbin/nats-server"); err == nil {
			t.Binary = "/usr/sbin/nats-server"
		}
	}
}

func (t *Target) validate() error {
	switch t.Kind {
	case KindWeir, KindWeirHelper, KindKfake, KindNull, KindNATS:
		if t.Binary == "" {
			return fmt.Errorf("bench: target %s: no Binary to start", t.Name)
		}
	case KindKafka:
		if t.Addr == "" {
			return fmt.Errorf("bench: target %s: no Addr", t.Name)
		}
	default:
		return fmt.Errorf("bench: target %s: unknown kind %q", t.Name, t.Kind)
	}
	if t.Transport != "" && t.Transport != "epoll" && t.Transport != "net" {
		return fmt.Errorf("bench: target %s: transport %q is neither epoll nor net", t.Name, t.Transport)
	}
	return nil
}

// server is a running target.
type server struct {
	addr      string // Kafka or NATS client address
	pid       int    // 0: not measured
	debugAddr string // KindWeirHelper: HTTP address of /memstats and pprof
	cmd       *exec.Cmd
	dir       string // data directory, removed by stop
	stderr    *tailBuffer
	stdin     io.WriteCloser
	exited    chan struct{} // closed once the child has exited
	waitErr   error         // cmd.Wait's error, set before exited closes
}

// start starts the target and waits until it accepts connections.
func (t *Target) start(ctx context.Context, dataDir string) (*server, error) {
	if t.Kind == KindKafka {
		return &server{addr: t.Addr, pid: t.PID}, nil
	}
	dir, err := os.MkdirTemp(dataDir, "weirbench-"+t.Name+"-")
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &server{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir, stderr: &tailBuffer{max: 8 << 10}}
	var cmd *exec.Cmd
	switch t.Kind {
	case KindWeir:
		args := []string{"serve", "--listen", s.addr, "--data", filepath.Join(dir, "data"), "--log-level", "warn"}
		if t.Transport != "" {
			args = append(args, "--transport", t.Transport)
		}
		cmd = exec.Command(t.Binary, args...)
	case KindWeirHelper:
		dport, err := freePort()
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		s.debugAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(dport))
		cmd = exec.Command(t.Binary, "-test.run=^TestBrokerHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(),
			"WEIRBENCH_HELPER=1",
			"WEIRBENCH_LISTEN="+s.addr,
			"WEIRBENCH_DEBUG="+s.debugAddr,
			"WEIRBENCH_DATA="+filepath.Join(dir, "data"),
			"WEIRBENCH_TRANSPORT="+t.Transport)
	case KindKfake, KindNull:
		cmd = exec.Command(t.Binary, append(append([]string(nil), t.Args...), "-addr", s.addr)...)
	case KindNATS:
		conf := filepath.Join(dir, "nats.conf")
		if err := os.WriteFile(conf, []byte(natsConfig(s.addr, filepath.Join(dir, "js"), t.NATSSync)), 0o644); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("bench: %w", err)
		}
		cmd = exec.Command(t.Binary, "-c", conf)
	}
	cmd.Stdout = s.stderr
	cmd.Stderr = s.stderr
	// Stdin is a pipe the child may watch: it reaches EOF if we die.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.stdin = stdin // kept open (referenced) until stop; cmd.Wait closes it
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("bench: start %s: %w", t.Name, err)
	}
	s.cmd, s.pid = cmd, cmd.Process.Pid
	s.exited = make(chan struct{})
	go func() { s.waitErr = cmd.Wait(); close(s.exited) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err == nil && s.debugAddr != "" {
			c.Close()
			c, err = net.DialTimeout("tcp", s.debugAddr, time.Second)
		}
		if err == nil {
			c.Close()
			return s, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil || s.hasExited() {
			s.stop()
			return nil, fmt.Errorf("bench: %s did not start listening on %s: %v; output: %s", t.Name, s.addr, err, s.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *server) hasExited() bool {
	select {
	case <-s.exited:
		return true
	default:
		return false
	}
}

// stop terminates the target (SIGTERM, then SIGKILL after 10 s) and removes
// its data.
func (s *server) stop() error {
	var err error
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
			err = s.waitErr
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
			err = fmt.Errorf("bench: target did not exit 10 s after SIGTERM: %v", s.waitErr)
		}
		s.cmd = nil
		var ee *exec.ExitError
		if errors.As(err, &ee) && !ee.Exited() {
			err = nil // killed by our signal
		} else if errors.As(err, &ee) && ee.ExitCode() <= 1 {
			// nats-server and kfake exit 1 on SIGTERM; not worth reporting.
			err = nil
		}
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
	return err
}

// procSample is a process's CPU time and memory at one moment.
type procSample struct {
	at       time.Time
	cpu      time.Duration // user + system, all threads
	rss, hwm int64         // bytes: VmRSS, VmHWM (peak)
}

// clockTick is USER_HZ, which Linux fixes at 100 for /proc/*/stat.
const clockTick = 10 * time.Millisecond

func sampleProc(pid int) (procSample, error) {
	s := procSample{at: time.Now()}
	if pid == 0 {
		return s, nil
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("bench: %w", err)
	}
	// The command name (field 2) may hold spaces; fields resume after ')'.
	i := strings.LastIndexByte(string(stat), ')')
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return s, fmt.Errorf("bench: short /proc/%d/stat", pid)
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64) // field 14
	st, _ := strconv.ParseInt(f[12], 10, 64) // field 15
	s.cpu = time.Duration(ut+st) * clockTick
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("bench: %w", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var dst *int64
		switch k {
		case "VmRSS":
			dst = &s.rss
		case "VmHWM":
			dst = &s.hwm
		default:
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		*dst = kb << 10
	}
	return s, nil
}

// memStats is what the helper process reports from runtime.MemStats.
type memStats struct {
	Mallocs, Frees, TotalAlloc, HeapAlloc, Sys uint64
	NumGC                                      uint32
}

func (s *server) memStats(ctx context.Context) (memStats, error) {
	var m memStats
	if s.debugAddr == "" {
		return m, errors.New("bench: no helper")
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+s.debugAddr+"/memstats", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return m, fmt.Errorf("bench: memstats: %w", err)
	}
	defer resp.Body.Close()
	return m, json.NewDecoder(resp.Body).Decode(&m)
}

// debugGet sends a GET to the helper's debug server.
func (s *server) debugGet(ctx context.Context, path string) error {
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+s.debugAddr+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("bench: %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("bench: %s: %s: %s", path, resp.Status, b)
	}
	return nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("bench: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// tailBuffer keeps the last max bytes written to it (a child's output, for
// error messages).
type tailBuffer struct {
	max int
	mu  sync.Mutex
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}

// natsConfig is nats-server's configuration: JetStream with file storage in
// dir. Durability: nats-server 2.9 (Debian 12's) answers a JetStream
// publish once the message is in the stream's file store (written to the
// page cache, in order), and fsyncs every 2 minutes; it has no per-write
// sync. sync_interval ("always": fsync every write) arrived in 2.10:
// Target.NATSSync sets it for such a server. So against the Debian server
// NATS runs with less durability than Weir's acks=all (as Kafka does with
// its default flush policy), which only flatters it.
func natsConfig(addr, dir, syncInterval string) string {
	host, port, _ := net.SplitHostPort(addr)
	sync := ""
	if syncInterval != "" {
		sync = fmt.Sprintf("  sync_interval: %q\n", syncInterval)
	}
	return fmt.Sprintf("host: %s\nport: %s\nmax_payload: 8MB\nmax_pending: 256MB\njetstream {\n  store_dir: %q\n  max_file_store: 100GB\n  max_memory_store: 256MB\n%s}\n", host, port, dir, sync)
}
