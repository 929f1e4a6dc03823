//go:build linux

package netpoll

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const manyConns = 10000

// TestManyIdleConns opens 10,000 mostly idle connections and reports the
// Go heap (and goroutine stacks) each one costs the server.
//
// The clients run in a child process (this test binary, re-executed into
// TestManyIdleConnsClients): the server's process then needs one file
// descriptor per connection instead of two, and the heap measured here is
// the server's alone.
func TestManyIdleConns(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 connections: skipped in -short mode")
	}
	if err := ensureNoFile(manyConns + 512); err != nil {
		t.Skip(err)
	}
	forEachTransport(t, func(t *testing.T, tr string) {
		h := echoHandler()
		ts := startServer(t, tr, Config{}, h)

		var before, after runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&before)
		goroutines := runtime.NumGoroutine()

		start := time.Now()
		cmd := exec.Command(os.Args[0], "-test.run=^TestManyIdleConnsClients$", "-test.count=1")
		cmd.Env = append(os.Environ(), "NETPOLL_CLIENTS_ADDR="+ts.addr, fmt.Sprintf("NETPOLL_CLIENTS_N=%d", manyConns))
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			stdin.Close()
			cmd.Wait()
		})
		ready := make(chan string, 1)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if line := sc.Text(); strings.HasPrefix(line, "ready") || strings.HasPrefix(line, "error") {
					ready <- line
				}
			}
			close(ready)
		}()
		waitFor(t, 60*time.Second, "every connection opened", func() bool { return h.opened.Load() == manyConns })
		opened := time.Since(start)

		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / manyConns
		stack := (int64(after.StackInuse) - int64(before.StackInuse)) / manyConns
		t.Logf("%s: %d connections opened in %v; per connection: %d B Go heap, %d B goroutine stacks; %d goroutines added",
			tr, manyConns, opened.Round(time.Millisecond), heap, stack, runtime.NumGoroutine()-goroutines)

		// The child checks a sample of the connections with a round trip.
		select {
		case line := <-ready:
			if line != "ready" {
				t.Fatalf("client process: %q", line)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("client process not ready")
		}
		if tr == TransportEpoll && heap > 4096 {
			t.Errorf("epoll: %d B of Go heap per idle connection, target < 4 KiB", heap)
		}
		stdin.Close() // the child closes its connections and exits
		waitFor(t, 60*time.Second, "every connection closed", func() bool { return h.closed.Load() == manyConns })
	})
}

// TestManyIdleConnsClients is the client process of TestManyIdleConns: it
// holds NETPOLL_CLIENTS_N connections open until its stdin closes. It does
// nothing when run directly.
func TestManyIdleConnsClients(t *testing.T) {
	addr := os.Getenv("NETPOLL_CLIENTS_ADDR")
	if addr == "" {
		t.Skip("client process of TestManyIdleConns")
	}
	fail := func(err error) {
		fmt.Printf("error %v\n", err)
		os.Exit(1)
	}
	n, err := strconv.Atoi(os.Getenv("NETPOLL_CLIENTS_N"))
	if err != nil {
		fail(err)
	}
	if err := ensureNoFile(uint64(n) + 512); err != nil {
		fail(err)
	}
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		fail(err)
	}
	sa := &unix.SockaddrInet4{Port: ta.Port}
	copy(sa.Addr[:], ta.IP.To4())
	fds := make([]int, 0, n)
	for range n {
		fd, err := dialRaw(sa)
		if err != nil {
			fail(fmt.Errorf("connection %d: %w", len(fds), err))
		}
		fds = append(fds, fd)
	}
	for i := 0; i < n; i += max(1, n/20) {
		if err := roundTripRaw(fds[i], []byte("ping")); err != nil {
			fail(fmt.Errorf("round trip on connection %d: %w", i, err))
		}
	}
	fmt.Println("ready")
	var b [1]byte
	os.Stdin.Read(b[:]) // EOF when the parent is done
	for _, fd := range fds {
		unix.Close(fd)
	}
	os.Exit(0)
}

// ensureNoFile raises the soft RLIMIT_NOFILE to at least need, or says why
// it cannot.
func ensureNoFile(need uint64) error {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return fmt.Errorf("getrlimit: %w", err)
	}
	if rl.Cur >= need {
		return nil
	}
	old := rl
	rl.Cur = need
	rl.Max = max(rl.Max, need)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return fmt.Errorf("%d connections need %d file descriptors per process; RLIMIT_NOFILE is %d (hard %d) and could not be raised: %w",
			manyConns, need, old.Cur, old.Max, err)
	}
	return nil
}

// dialRaw connects a blocking socket to sa without the Go runtime's poller.
func dialRaw(sa *unix.SockaddrInet4) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	for {
		err = unix.Connect(fd, sa)
		switch err {
		case nil, unix.EISCONN:
			tv := unix.Timeval{Sec: 10}
			unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
			return fd, nil
		case unix.EINTR, unix.EALREADY, unix.EINPROGRESS:
			time.Sleep(100 * time.Microsecond) // interrupted; the handshake goes on
		default:
			unix.Close(fd)
			return -1, err
		}
	}
}

// roundTripRaw sends p as a frame on a blocking socket and checks the echo.
func roundTripRaw(fd int, p []byte) error {
	if _, err := unix.Write(fd, appendFrame(nil, p)); err != nil {
		return err
	}
	got := make([]byte, 4+len(p)) // the echo: size, then p
	for have := 0; have < len(got); {
		k, err := unix.Read(fd, got[have:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if k == 0 {
			return unix.ECONNRESET
		}
		have += k
	}
	if binary.BigEndian.Uint32(got) != uint32(len(p)) || string(got[4:]) != string(p) {
		return unix.EBADMSG
	}
	return nil
}
