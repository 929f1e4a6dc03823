package netpoll

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// transports are the transports every test runs against: one suite, every
// implementation (as nats-server's store tests do).
func transports() []string {
	if epollSupported {
		return []string{TransportEpoll, TransportNet}
	}
	return []string{TransportNet}
}

func forEachTransport(t *testing.T, f func(t *testing.T, tr string)) {
	for _, tr := range transports() {
		t.Run(tr, func(t *testing.T) { f(t, tr) })
	}
}

// logBuffer collects log output for assertions; safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type testServer struct {
	*Server
	addr     string
	logs     *logBuffer
	served   chan struct{} // closed when Serve returned
	serveErr error         // what Serve returned, once served is closed
}

// waitServed waits for Serve to return and checks that it returned
// ErrServerClosed.
func (ts *testServer) waitServed(t testing.TB, timeout time.Duration) {
	t.Helper()
	select {
	case <-ts.served:
		if ts.serveErr != ErrServerClosed {
			t.Errorf("Serve returned %v, want ErrServerClosed", ts.serveErr)
		}
	case <-time.After(timeout):
		t.Fatalf("Serve did not return within %v", timeout)
	}
}

// startServer serves h on an ephemeral loopback port; the server is closed
// when the test ends, and Serve must then return ErrServerClosed.
func startServer(t testing.TB, tr string, cfg Config, h Handler) *testServer {
	t.Helper()
	cfg.Transport = tr
	logs := &logBuffer{}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, err := NewServer(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: s, addr: ln.Addr().String(), logs: logs, served: make(chan struct{})}
	go func() {
		ts.serveErr = s.Serve(ln)
		close(ts.served)
	}()
	t.Cleanup(func() {
		s.Close()
		ts.waitServed(t, 10*time.Second)
	})
	return ts
}

func (ts *testServer) dial(t testing.TB) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func appendFrame(dst, payload []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)))
	return append(dst, payload...)
}

func readFrame(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}

// expectClosed reads from c until EOF or an error other than a timeout.
func expectClosed(t testing.TB, c net.Conn, within time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(within))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v", within)
	}
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// handler is a Handler made of functions, counting opens and closes.
type handler struct {
	open  func(c *Conn)
	req   func(c *Conn, seq uint64, frame []byte)
	close func(c *Conn, err error)

	opened, closed atomic.Int64
	mu             sync.Mutex
	closeErrs      []error
}

func (h *handler) OnOpen(c *Conn) {
	h.opened.Add(1)
	if h.open != nil {
		h.open(c)
	}
}

func (h *handler) OnRequest(c *Conn, seq uint64, frame []byte) {
	h.req(c, seq, frame)
}

func (h *handler) OnClose(c *Conn, err error) {
	if err == nil {
		panic("OnClose with a nil error")
	}
	h.mu.Lock()
	h.closeErrs = append(h.closeErrs, err)
	h.mu.Unlock()
	if h.close != nil {
		h.close(c, err)
	}
	h.closed.Add(1)
}

func (h *handler) errs() []error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]error(nil), h.closeErrs...)
}

// tracker counts Responses made and released, and OnDone calls beyond the
// first for any Response.
type tracker struct {
	made, done, doubled atomic.Int64
}

func (tk *tracker) track(r *Response) *Response {
	tk.made.Add(1)
	var once atomic.Bool
	r.OnDone = func() {
		if once.Swap(true) {
			tk.doubled.Add(1)
			return
		}
		tk.done.Add(1)
	}
	return r
}

func (tk *tracker) check(t testing.TB) {
	t.Helper()
	waitFor(t, 5*time.Second, "every response released", func() bool { return tk.made.Load() == tk.done.Load() })
	if d := tk.doubled.Load(); d != 0 {
		t.Errorf("OnDone called more than once for %d responses", d)
	}
}

// echoResponse returns a Response that is frame, framed again.
func echoResponse(frame []byte) *Response {
	r := GetResponse()
	b := r.Alloc(4 + len(frame))
	b = appendFrame(b, frame)
	r.Parts = append(r.Parts, Part{Buf: b})
	return r
}

// echoHandler replies to each request with its payload, synchronously.
func echoHandler() *handler {
	return &handler{req: func(c *Conn, seq uint64, frame []byte) {
		c.Reply(seq, echoResponse(frame))
	}}
}

// payload builds a request that identifies its client and index and has
// size bytes (at least 8).
func payload(client, i, size int) []byte {
	b := make([]byte, max(size, 8))
	binary.BigEndian.PutUint32(b, uint32(client))
	binary.BigEndian.PutUint32(b[4:], uint32(i))
	for j := 8; j < len(b); j++ {
		b[j] = byte(client*31 + i*7 + j)
	}
	return b
}

// chunkedWriter writes p in pieces of random size up to max, yielding
// between them so that the server sees frames split across reads.
func writeChunked(w io.Writer, p []byte, maxChunk int, rnd func(int) int) error {
	for len(p) > 0 {
		n := min(len(p), 1+rnd(maxChunk))
		if _, err := w.Write(p[:n]); err != nil {
			return err
		}
		p = p[n:]
		if rnd(8) == 0 {
			runtime.Gosched()
		}
	}
	return nil
}

// pipelineCheck writes frames from one goroutine and reads the expected
// responses from another; it returns the first mismatch or error.
func pipelineCheck(c net.Conn, reqs [][]byte, want [][]byte, maxChunk int, rnd func(int) int) error {
	var stream []byte
	for _, r := range reqs {
		stream = appendFrame(stream, r)
	}
	werr := make(chan error, 1)
	go func() { werr <- writeChunked(c, stream, maxChunk, rnd) }()
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	for i, w := range want {
		got, err := readFrame(br)
		if err != nil {
			return fmt.Errorf("response %d of %d: %w", i, len(want), err)
		}
		if !bytes.Equal(got, w) {
			return fmt.Errorf("response %d: got %d bytes %.16x…, want %d bytes %.16x…", i, len(got), got, len(w), w)
		}
	}
	return <-werr
}
