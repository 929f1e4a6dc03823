package netpoll

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// asyncReply replies from another goroutine after a random delay of up to
// maxDelay, so that replies arrive out of order.
func asyncReply(c *Conn, seq uint64, r *Response, maxDelay time.Duration) {
	d := time.Duration(rand.Int64N(int64(maxDelay) + 1))
	time.AfterFunc(d, func() { c.Reply(seq, r) })
}

func TestEcho(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		for _, mode := range []string{"sync", "async"} {
			t.Run(mode, func(t *testing.T) {
				var tk tracker
				h := &handler{req: func(c *Conn, seq uint64, frame []byte) {
					r := tk.track(echoResponse(frame))
					if mode == "sync" {
						c.Reply(seq, r)
					} else {
						asyncReply(c, seq, r, 2*time.Millisecond)
					}
				}}
				ts := startServer(t, tr, Config{}, h)
				const clients, perClient = 16, 300
				conns := make([]net.Conn, clients)
				for i := range conns {
					conns[i] = ts.dial(t)
				}
				errs := make(chan error, clients)
				for ci, c := range conns {
					go func() {
						rnd := rand.New(rand.NewPCG(uint64(ci), 1))
						reqs := make([][]byte, perClient)
						for i := range reqs {
							reqs[i] = payload(ci, i, rnd.IntN(3000))
						}
						errs <- pipelineCheck(c, reqs, reqs, 4096, rnd.IntN)
					}()
				}
				for range clients {
					if err := <-errs; err != nil {
						t.Fatal(err)
					}
				}
				tk.check(t)
				if n := tk.made.Load(); n != clients*perClient {
					t.Fatalf("%d responses made, want %d", n, clients*perClient)
				}
			})
		}
	})
}

func TestLargeAndTinyFrames(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		var tk tracker
		h := &handler{req: func(c *Conn, seq uint64, frame []byte) {
			c.Reply(seq, tk.track(echoResponse(frame)))
		}}
		ts := startServer(t, tr, Config{}, h)
		rnd := rand.New(rand.NewPCG(7, 7))

		t.Run("large", func(t *testing.T) {
			c := ts.dial(t)
			reqs := [][]byte{payload(1, 0, 10), payload(1, 1, 5<<20), payload(1, 2, 100), payload(1, 3, 5<<20+3), payload(1, 4, 300<<10)}
			if err := pipelineCheck(c, reqs, reqs, 64<<10, rnd.IntN); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("large-split-sizes", func(t *testing.T) {
			// Big frames (read size first, straight into their own
			// buffers) whose 4-byte sizes arrive in pieces, with small
			// frames between them (back to the loop buffer).
			c := ts.dial(t)
			reqs := [][]byte{payload(2, 0, 2<<20), payload(2, 1, 1<<20), payload(2, 2, 300<<10),
				payload(2, 3, 9), payload(2, 4, 3<<20), {}, payload(2, 6, 1<<20+1), payload(2, 7, 1<<20)}
			// Cut the stream 1, 2 and 3 bytes into every size, and pause
			// after each cut so that the server reads the pieces apart.
			var cuts []int
			pos := 0
			for _, r := range reqs {
				cuts = append(cuts, pos+1, pos+2, pos+3)
				pos += 4 + len(r)
			}
			const chunkArg = 1 << 30 // tells writeChunked's two uses of rnd apart
			at := 0
			next := func(n int) int {
				if n != chunkArg {
					return 1 // no Gosched
				}
				for len(cuts) > 0 && cuts[0] <= at {
					cuts = cuts[1:]
				}
				if at > 0 && len(cuts) > 0 && cuts[0]-at <= 3 {
					time.Sleep(time.Millisecond)
				}
				step := 64 << 10
				if len(cuts) > 0 {
					step = min(step, cuts[0]-at)
				}
				at += step
				return step - 1
			}
			if err := pipelineCheck(c, reqs, reqs, chunkArg, next); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("tiny", func(t *testing.T) {
			c := ts.dial(t)
			reqs := make([][]byte, 5000)
			total := 0
			for i := range reqs {
				reqs[i] = bytes.Repeat([]byte{byte(i)}, i%9)
				total += 4 + len(reqs[i])
			}
			// One write: the server gets many frames in one read.
			if err := pipelineCheck(c, reqs, reqs, total, func(int) int { return total }); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("bytewise", func(t *testing.T) {
			c := ts.dial(t)
			reqs := make([][]byte, 20)
			for i := range reqs {
				reqs[i] = payload(3, i, 8+i)
			}
			n := 0
			if err := pipelineCheck(c, reqs, reqs, 1, func(int) int {
				if n++; n%7 == 0 {
					time.Sleep(200 * time.Microsecond)
				}
				return 0
			}); err != nil {
				t.Fatal(err)
			}
		})
		tk.check(t)
	})
}

func TestFrameTooLarge(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		const limit = 64 << 10
		h := echoHandler()
		// A 16 KiB loop buffer: a frame of 32 KiB puts its connection in
		// the mode that reads each size alone (epoll).
		ts := startServer(t, tr, Config{MaxRequestBytes: limit, ReadBufferBytes: 16 << 10}, h)
		good := ts.dial(t)
		rnd := rand.New(rand.NewPCG(1, 2))
		atLimit := [][]byte{payload(0, 0, 10), payload(0, 1, limit)}
		if err := pipelineCheck(good, atLimit, atLimit, 8192, rnd.IntN); err != nil {
			t.Fatal(err)
		}
		sizes := []int32{limit + 1, limit + 1, -1, -1, math.MaxInt32, math.MinInt32}
		for i, size := range sizes {
			bad := ts.dial(t)
			fine := [][]byte{[]byte("fine")}
			if i%2 == 1 {
				fine = [][]byte{payload(0, 9, 32<<10)}
			}
			if err := pipelineCheck(bad, fine, fine, 100, rnd.IntN); err != nil {
				t.Fatal(err)
			}
			stream := binary.BigEndian.AppendUint32(nil, uint32(size))
			stream = append(stream, "junk"...)
			if _, err := bad.Write(stream); err != nil {
				t.Fatal(err)
			}
			expectClosed(t, bad, 5*time.Second)
		}
		waitFor(t, 5*time.Second, "OnClose for the bad connections", func() bool { return h.closed.Load() == int64(len(sizes)) })
		for _, err := range h.errs() {
			if !errors.Is(err, ErrFrameSize) {
				t.Errorf("OnClose error %v, want ErrFrameSize", err)
			}
		}
		if n := strings.Count(ts.logs.String(), "invalid frame size"); n != len(sizes) {
			t.Errorf("%d log lines about the frame size, want %d:\n%s", n, len(sizes), ts.logs)
		}
		more := [][]byte{payload(0, 2, 1000)}
		if err := pipelineCheck(good, more, more, 8192, rnd.IntN); err != nil {
			t.Fatalf("other connection broken: %v", err)
		}
	})
}

// fileRegion is a request for bytes [off, off+n) of the test file.
type fileRegion struct{ off, n uint32 }

func TestFileParts(t *testing.T) {
	const fileSize = 8 << 20
	content := make([]byte, fileSize)
	rand.NewChaCha8([32]byte{3}).Read(content)
	path := filepath.Join(t.TempDir(), "segment")
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	fd := int(f.Fd())

	// A request is a list of regions; the response is
	// size | for each region: "[" index file-bytes "]" | "end".
	expected := func(regions []fileRegion) []byte {
		var b []byte
		for i, r := range regions {
			b = append(b, '[', byte(i))
			b = append(b, content[r.off:r.off+r.n]...)
			b = append(b, ']')
		}
		return append(b, "end"...)
	}
	encode := func(regions []fileRegion) []byte {
		var b []byte
		for _, r := range regions {
			b = binary.BigEndian.AppendUint32(b, r.off)
			b = binary.BigEndian.AppendUint32(b, r.n)
		}
		return b
	}

	forEachTransport(t, func(t *testing.T, tr string) {
		var tk tracker
		h := &handler{req: func(c *Conn, seq uint64, frame []byte) {
			r := tk.track(GetResponse())
			var total int64
			var regions []fileRegion
			for p := frame; len(p) >= 8; p = p[8:] {
				reg := fileRegion{binary.BigEndian.Uint32(p), binary.BigEndian.Uint32(p[4:])}
				regions = append(regions, reg)
				total += 3 + int64(reg.n)
			}
			total += 3
			hdr := binary.BigEndian.AppendUint32(r.Alloc(4), uint32(total))
			r.Parts = append(r.Parts, Part{Buf: hdr}, Part{}, Part{Buf: []byte{}})
			for i, reg := range regions {
				r.Parts = append(r.Parts,
					Part{Buf: []byte{'[', byte(i)}},
					Part{Fd: fd, Off: int64(reg.off), Len: int64(reg.n)},
					Part{Buf: []byte{']'}})
			}
			r.Parts = append(r.Parts, Part{Buf: []byte("end")})
			if seq%2 == 0 {
				c.Reply(seq, r)
			} else {
				asyncReply(c, seq, r, time.Millisecond)
			}
		}}
		ts := startServer(t, tr, Config{}, h)
		rnd := rand.New(rand.NewPCG(4, 4))
		var reqs, want [][]byte
		add := func(regions ...fileRegion) {
			reqs = append(reqs, encode(regions))
			want = append(want, expected(regions))
		}
		add(fileRegion{0, 100})
		add(fileRegion{1, 3 << 20}, fileRegion{5 << 20, 1}, fileRegion{0, 0})
		add(fileRegion{fileSize - 10, 10}, fileRegion{100, 200})
		add()
		for range 40 {
			var regions []fileRegion
			for range 1 + rnd.IntN(4) {
				n := uint32(rnd.IntN(512 << 10))
				regions = append(regions, fileRegion{uint32(rnd.IntN(fileSize - int(n))), n})
			}
			add(regions...)
		}
		c := ts.dial(t)
		if err := pipelineCheck(c, reqs, want, 1<<20, rnd.IntN); err != nil {
			t.Fatal(err)
		}
		tk.check(t)

		// A region past the end of the file cuts the connection.
		short := ts.dial(t)
		if _, err := short.Write(appendFrame(nil, encode([]fileRegion{{fileSize - 10, 20}}))); err != nil {
			t.Fatal(err)
		}
		expectClosed(t, short, 5*time.Second)
		waitFor(t, 5*time.Second, "OnClose", func() bool { return h.closed.Load() == 1 })
		if errs := h.errs(); !errors.Is(errs[0], ErrShortFile) {
			t.Fatalf("OnClose error %v, want ErrShortFile", errs[0])
		}
		tk.check(t)
		if err := pipelineCheck(c, reqs[:3], want[:3], 1<<20, rnd.IntN); err != nil {
			t.Fatalf("other connection broken: %v", err)
		}
	})
}

func TestBackpressureQueuedBytes(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		const (
			maxQueued = 256 << 10
			respSize  = 64 << 10
			total     = 1000
		)
		var requests, maxSeen atomic.Int64
		var tk tracker
		h := &handler{req: func(c *Conn, seq uint64, frame []byte) {
			requests.Add(1)
			r := tk.track(GetResponse())
			b := r.Alloc(4 + respSize)
			b = binary.BigEndian.AppendUint32(b, respSize)
			b = binary.BigEndian.AppendUint64(b, seq)
			b = b[:4+respSize]
			r.Parts = append(r.Parts, Part{Buf: b})
			c.Reply(seq, r)
			if q := c.QueuedBytes(); q > maxSeen.Load() {
				maxSeen.Store(q)
			}
		}}
		ts := startServer(t, tr, Config{MaxQueuedBytes: maxQueued}, h)
		c := ts.dial(t)
		var stream []byte
		for i := range total {
			stream = appendFrame(stream, payload(0, i, 8))
		}
		go c.Write(stream) // fits in the socket buffers; never read

		// The server must stop dispatching: the count settles well below total.
		var last int64 = -1
		stableSince := time.Now()
		waitFor(t, 10*time.Second, "dispatching to stop", func() bool {
			if n := requests.Load(); n != last {
				last, stableSince = n, time.Now()
			}
			return last > 0 && time.Since(stableSince) > 300*time.Millisecond
		})
		if last >= total {
			t.Fatalf("all %d requests dispatched while the client read nothing", total)
		}
		if m := maxSeen.Load(); m > maxQueued+respSize+4 {
			t.Fatalf("queued %d bytes, limit %d + one response", m, maxQueued)
		}
		t.Logf("dispatched %d of %d requests while unread; max queued %d bytes", last, total, maxSeen.Load())

		// Reading resumes the flow; every response arrives in order.
		br := bufio.NewReader(c)
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		for i := range total {
			got, err := readFrame(br)
			if err != nil {
				t.Fatalf("response %d: %v", i, err)
			}
			if len(got) != respSize || binary.BigEndian.Uint64(got) != uint64(i) {
				t.Fatalf("response %d: %d bytes, seq %d", i, len(got), binary.BigEndian.Uint64(got))
			}
		}
		if m := maxSeen.Load(); m > maxQueued+respSize+4 {
			t.Fatalf("queued %d bytes, limit %d + one response", m, maxQueued)
		}
		tk.check(t)
	})
}

func TestBackpressureInFlight(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		const maxInFlight, total = 8, 100
		type held struct {
			c     *Conn
			seq   uint64
			frame []byte
		}
		var mu sync.Mutex
		var pending []held
		var requests, maxSeen atomic.Int64
		h := &handler{req: func(c *Conn, seq uint64, frame []byte) {
			requests.Add(1)
			if n := int64(c.InFlight()); n > maxSeen.Load() {
				maxSeen.Store(n)
			}
			mu.Lock()
			pending = append(pending, held{c, seq, bytes.Clone(frame)})
			mu.Unlock()
		}}
		ts := startServer(t, tr, Config{MaxInFlight: maxInFlight}, h)
		c := ts.dial(t)
		reqs := make([][]byte, total)
		var stream []byte
		for i := range reqs {
			reqs[i] = payload(0, i, 20)
			stream = appendFrame(stream, reqs[i])
		}
		if _, err := c.Write(stream); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "the first requests", func() bool { return requests.Load() == maxInFlight })
		time.Sleep(100 * time.Millisecond)
		if n := requests.Load(); n != maxInFlight {
			t.Fatalf("%d requests dispatched with none answered, limit %d", n, maxInFlight)
		}
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(2 * time.Millisecond):
				}
				mu.Lock()
				batch := pending
				pending = nil
				mu.Unlock()
				for i := len(batch) - 1; i >= 0; i-- { // newest first
					batch[i].c.Reply(batch[i].seq, echoResponse(batch[i].frame))
				}
			}
		}()
		br := bufio.NewReader(c)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		for i := range total {
			got, err := readFrame(br)
			if err != nil || !bytes.Equal(got, reqs[i]) {
				t.Fatalf("response %d: %x, %v", i, got, err)
			}
		}
		if m := maxSeen.Load(); m > maxInFlight {
			t.Fatalf("%d requests in flight, limit %d", m, maxInFlight)
		}
	})
}

func TestNilReply(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		var tk tracker
		h := &handler{req: func(c *Conn, seq uint64, frame []byte) {
			if frame[0] == 0 { // acks=0
				if seq%3 == 0 {
					c.Reply(seq, nil)
				} else {
					time.AfterFunc(time.Duration(rand.IntN(1000))*time.Microsecond, func() { c.Reply(seq, nil) })
				}
				return
			}
			asyncReply(c, seq, tk.track(echoResponse(frame)), time.Millisecond)
		}}
		ts := startServer(t, tr, Config{}, h)
		rnd := rand.New(rand.NewPCG(5, 5))
		var reqs, want [][]byte
		for i := range 300 {
			p := payload(0, i, 10+rnd.IntN(100))
			p[0] = byte(rnd.IntN(2))
			if i >= 295 {
				p[0] = byte(i % 2) // ends with nil, echo, nil, echo, nil
			}
			reqs = append(reqs, p)
			if p[0] != 0 {
				want = append(want, p)
			}
		}
		c := ts.dial(t)
		if err := pipelineCheck(c, reqs, want, 2048, rnd.IntN); err != nil {
			t.Fatal(err)
		}
		// Nothing more arrives, yet later requests still flow.
		more := [][]byte{{1, 2, 3}}
		if err := pipelineCheck(c, more, more, 10, rnd.IntN); err != nil {
			t.Fatal(err)
		}
		tk.check(t)
	})
}

func TestOnDoneOnDisconnect(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	forEachTransport(t, func(t *testing.T, tr string) {
		const total = 60
		var tk tracker
		var requests atomic.Int64
		h := &handler{req: func(c *Conn, seq uint64, frame []byte) {
			requests.Add(1)
			r := tk.track(GetResponse())
			b := r.Alloc(4 + 128<<10)
			b = binary.BigEndian.AppendUint32(b, 128<<10+64<<10)
			r.Parts = append(r.Parts, Part{Buf: b[:4+128<<10]}, Part{Fd: int(f.Fd()), Off: 0, Len: 64 << 10})
			if seq%3 == 0 {
				c.Reply(seq, r)
			} else {
				asyncReply(c, seq, r, 30*time.Millisecond) // some after the close
			}
		}}
		ts := startServer(t, tr, Config{}, h)
		c := ts.dial(t)
		var stream []byte
		for i := range total {
			stream = appendFrame(stream, payload(0, i, 8))
		}
		if _, err := c.Write(stream); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "all requests", func() bool { return requests.Load() == total })
		c.(*net.TCPConn).SetLinger(0) // reset, with responses queued
		c.Close()
		waitFor(t, 5*time.Second, "OnClose", func() bool { return h.closed.Load() == 1 })
		tk.check(t)
		if tk.made.Load() != total {
			t.Fatalf("%d responses, want %d", tk.made.Load(), total)
		}
	})
}

func TestIdleTimeout(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		const idle = 150 * time.Millisecond
		h := &handler{req: func(c *Conn, seq uint64, frame []byte) {
			r := echoResponse(frame)
			if string(frame) == "hold" {
				time.AfterFunc(4*idle, func() { c.Reply(seq, r) })
				return
			}
			c.Reply(seq, r)
		}}
		ts := startServer(t, tr, Config{IdleTimeout: idle}, h)
		var wg sync.WaitGroup
		errs := make(chan error, 3)
		run := func(f func() error) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- f()
			}()
		}
		idleConn, holdConn, busyConn := ts.dial(t), ts.dial(t), ts.dial(t)
		roundTrip := func(c net.Conn, p string) error {
			if _, err := c.Write(appendFrame(nil, []byte(p))); err != nil {
				return err
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			got, err := readFrame(c)
			if err == nil && string(got) != p {
				err = errors.New("wrong echo " + string(got))
			}
			return err
		}
		closedWithin := func(c net.Conn, d time.Duration) error {
			c.SetReadDeadline(time.Now().Add(d))
			_, err := io.Copy(io.Discard, c)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return errors.New("idle connection not closed")
			}
			return nil
		}
		run(func() error { // idle after one request: closed
			if err := roundTrip(idleConn, "x"); err != nil {
				return err
			}
			return closedWithin(idleConn, 20*idle)
		})
		run(func() error { // a request in flight longer than the timeout: kept
			if err := roundTrip(holdConn, "hold"); err != nil {
				return errors.New("connection with a request in flight: " + err.Error())
			}
			return closedWithin(holdConn, 20*idle)
		})
		run(func() error { // busy: kept
			for i := range 12 {
				if err := roundTrip(busyConn, "busy"); err != nil {
					return errors.New("busy connection: " + err.Error())
				}
				if i < 11 {
					time.Sleep(idle / 3)
				}
			}
			return nil
		})
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, 5*time.Second, "OnClose", func() bool { return h.closed.Load() >= 2 })
		for _, err := range h.errs() {
			if !errors.Is(err, ErrIdleTimeout) {
				t.Errorf("OnClose error %v, want ErrIdleTimeout", err)
			}
		}
	})
}

func TestGracefulClose(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		var tk tracker
		var requests atomic.Int64
		h := &handler{req: func(c *Conn, seq uint64, frame []byte) {
			requests.Add(1)
			r := tk.track(echoResponse(frame))
			time.AfterFunc(300*time.Millisecond, func() { c.Reply(seq, r) })
		}}
		ts := startServer(t, tr, Config{DrainTimeout: 5 * time.Second}, h)
		busy, idle := ts.dial(t), ts.dial(t)
		reqs := make([][]byte, 10)
		var stream []byte
		for i := range reqs {
			reqs[i] = payload(0, i, 100)
			stream = appendFrame(stream, reqs[i])
		}
		if _, err := busy.Write(stream); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "requests", func() bool { return requests.Load() == 10 && h.opened.Load() == 2 })
		closed := make(chan struct{})
		start := time.Now()
		go func() {
			ts.Close()
			close(closed)
		}()
		expectClosed(t, idle, 2*time.Second)
		br := bufio.NewReader(busy)
		busy.SetReadDeadline(time.Now().Add(5 * time.Second))
		for i := range reqs {
			got, err := readFrame(br)
			if err != nil || !bytes.Equal(got, reqs[i]) {
				t.Fatalf("response %d after Close: %v", i, err)
			}
		}
		expectClosed(t, busy, 2*time.Second)
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not return")
		}
		t.Logf("Close took %v", time.Since(start))
		ts.waitServed(t, time.Second)
		if h.closed.Load() != 2 {
			t.Fatalf("%d OnClose calls, want 2", h.closed.Load())
		}
		for _, err := range h.errs() {
			if !errors.Is(err, ErrServerClosed) {
				t.Errorf("OnClose error %v, want ErrServerClosed", err)
			}
		}
		if c, err := net.DialTimeout("tcp", ts.addr, time.Second); err == nil {
			c.Close()
			t.Fatal("still accepting after Close")
		}
		tk.check(t)
	})
}

func TestCloseDrainTimeout(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		var hold holder
		h := hold.handler()
		ts := startServer(t, tr, Config{DrainTimeout: 200 * time.Millisecond}, h)
		c := ts.dial(t)
		var stream []byte
		for i := range 3 {
			stream = appendFrame(stream, payload(0, i, 10))
		}
		c.Write(stream)
		waitFor(t, 5*time.Second, "requests", func() bool { return hold.count() == 3 })
		start := time.Now()
		ts.Close()
		if d := time.Since(start); d < 150*time.Millisecond || d > 3*time.Second {
			t.Fatalf("Close took %v with a 200ms drain timeout and unanswered requests", d)
		}
		expectClosed(t, c, time.Second)
		if errs := h.errs(); len(errs) != 1 || !errors.Is(errs[0], ErrServerClosed) {
			t.Fatalf("OnClose errors %v", errs)
		}
		// Late replies are released at once.
		var tk tracker
		hold.replyAll(&tk)
		tk.check(t)
	})
}

func TestCloseBeforeServe(t *testing.T) {
	for _, tr := range transports() {
		s, err := NewServer(Config{Transport: tr}, echoHandler())
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Serve(ln); err != ErrServerClosed {
			t.Fatalf("%s: Serve after Close: %v", tr, err)
		}
	}
}

func TestConnClose(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		var tk tracker
		opened := make(chan *Conn, 2)
		h := &handler{
			open: func(c *Conn) { opened <- c },
			req: func(c *Conn, seq uint64, frame []byte) {
				if string(frame) == "close" {
					c.Close()
					c.Close()
					c.Reply(seq, tk.track(echoResponse(frame)))
					return
				}
				c.Reply(seq, tk.track(echoResponse(frame)))
			},
		}
		ts := startServer(t, tr, Config{}, h)
		// Closed by the handler, inside OnRequest.
		c1 := ts.dial(t)
		<-opened
		one := [][]byte{[]byte("hello")}
		if err := pipelineCheck(c1, one, one, 100, rand.IntN); err != nil {
			t.Fatal(err)
		}
		c1.Write(appendFrame(nil, []byte("close")))
		expectClosed(t, c1, 2*time.Second)
		// Closed from another goroutine.
		c2 := ts.dial(t)
		sc := <-opened
		if err := pipelineCheck(c2, one, one, 100, rand.IntN); err != nil {
			t.Fatal(err)
		}
		go sc.Close()
		expectClosed(t, c2, 2*time.Second)
		waitFor(t, 5*time.Second, "OnClose", func() bool { return h.closed.Load() == 2 })
		for _, err := range h.errs() {
			if !errors.Is(err, ErrConnClosed) {
				t.Errorf("OnClose error %v, want ErrConnClosed", err)
			}
		}
		sc.Close()
		tk.check(t)
	})
}

func TestReplyMisuse(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		var tk tracker
		h := &handler{req: func(c *Conn, seq uint64, frame []byte) {
			c.Reply(seq, echoResponse(frame))
			c.Reply(seq, tk.track(echoResponse([]byte("dup"))))
			c.Reply(seq+1000, tk.track(echoResponse([]byte("unknown"))))
			c.Reply(seq, nil)
		}}
		ts := startServer(t, tr, Config{}, h)
		c := ts.dial(t)
		reqs := [][]byte{[]byte("a"), []byte("b"), []byte("c")}
		if err := pipelineCheck(c, reqs, reqs, 100, rand.IntN); err != nil {
			t.Fatal(err)
		}
		tk.check(t)
		if n := strings.Count(ts.logs.String(), "not awaiting a reply"); n != 9 {
			t.Fatalf("%d misuse log lines, want 9", n)
		}
	})
}

func TestUserDataAndRemoteAddr(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		h := &handler{
			open: func(c *Conn) { c.SetUserData(c.RemoteAddr().String()) },
			req: func(c *Conn, seq uint64, frame []byte) {
				c.Reply(seq, echoResponse([]byte(c.UserData().(string))))
			},
		}
		ts := startServer(t, tr, Config{}, h)
		c := ts.dial(t)
		want := [][]byte{[]byte(c.LocalAddr().String())}
		if err := pipelineCheck(c, [][]byte{{}}, want, 100, rand.IntN); err != nil {
			t.Fatal(err)
		}
	})
}

// TestStress runs random frame sizes and random write splits against a
// tiny read buffer and tight limits, with async, nil and out-of-order
// replies: it drives every read state (partial size, assembly, stash while
// paused) and both limits.
func TestStress(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		for seed := range uint64(6) {
			rnd := rand.New(rand.NewPCG(seed, 99))
			cfg := Config{
				ReadBufferBytes: 4096,
				MaxInFlight:     1 + rnd.IntN(4),
				MaxQueuedBytes:  1 + rnd.IntN(16<<10),
			}
			var tk tracker
			h := &handler{req: func(c *Conn, seq uint64, frame []byte) {
				switch {
				case len(frame) > 8 && frame[8] == 0:
					c.Reply(seq, nil)
				case seq%4 == 0:
					c.Reply(seq, tk.track(echoResponse(frame)))
				default:
					asyncReply(c, seq, tk.track(echoResponse(frame)), 300*time.Microsecond)
				}
			}}
			ts := startServer(t, tr, cfg, h)
			const clients = 4
			errs := make(chan error, clients)
			for ci := range clients {
				c := ts.dial(t)
				crnd := rand.New(rand.NewPCG(seed, uint64(ci)))
				var reqs, want [][]byte
				for i := range 300 {
					size := crnd.IntN(200)
					switch crnd.IntN(10) {
					case 0:
						size = 0
					case 1:
						size = 3000 + crnd.IntN(20000)
					}
					p := payload(ci, i, size)[:size]
					reqs = append(reqs, p)
					if len(p) <= 8 || p[8] != 0 {
						want = append(want, p)
					}
				}
				maxChunk := 1 + crnd.IntN(8192)
				go func() { errs <- pipelineCheck(c, reqs, want, maxChunk, crnd.IntN) }()
			}
			for range clients {
				if err := <-errs; err != nil {
					t.Fatalf("seed %d (%+v): %v", seed, cfg, err)
				}
			}
			tk.check(t)
		}
	})
}

// TestGarbage sends random bytes: the server closes or answers, never
// panics, and other connections keep working.
func TestGarbage(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		h := echoHandler()
		ts := startServer(t, tr, Config{MaxRequestBytes: 1 << 20}, h)
		rnd := rand.New(rand.NewPCG(11, 11))
		for i := range 20 {
			c := ts.dial(t)
			b := make([]byte, 1+rnd.IntN(3000))
			for j := range b {
				b[j] = byte(rnd.Uint32())
			}
			if i%2 == 0 {
				b[0] = 0 // a plausible size
			}
			c.Write(b)
			c.Close()
		}
		waitFor(t, 5*time.Second, "every connection closed", func() bool { return h.closed.Load() == 20 })
		good := ts.dial(t)
		reqs := [][]byte{[]byte("still fine")}
		if err := pipelineCheck(good, reqs, reqs, 100, rnd.IntN); err != nil {
			t.Fatal(err)
		}
	})
}

func TestConfig(t *testing.T) {
	var zero Config
	zero.EnsureDefaults()
	if err := zero.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	if zero.MaxRequestBytes != 100<<20 || zero.MaxQueuedBytes != 16<<20 || zero.MaxInFlight != 1024 ||
		zero.IdleTimeout != 10*time.Minute || zero.Loops < 1 || zero.Logger == nil || zero.Transport != defaultTransport {
		t.Fatalf("defaults: %+v", zero)
	}
	bad := []Config{
		{Loops: -1},
		{MaxRequestBytes: -5},
		{MaxRequestBytes: math.MaxInt32 + 1},
		{MaxQueuedBytes: -1},
		{MaxInFlight: -1},
		{DrainTimeout: -time.Second},
		{ReadBufferBytes: 100},
		{Transport: "udp"},
	}
	for _, cfg := range bad {
		if _, err := NewServer(cfg, echoHandler()); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%+v: %v, want ErrInvalidConfig", cfg, err)
		}
	}
	if _, err := NewServer(Config{}, nil); err == nil {
		t.Error("nil handler accepted")
	}
	cfg := Config{IdleTimeout: -1}
	s, err := NewServer(cfg, echoHandler())
	if err != nil || cfg.MaxInFlight != 0 || s.Config().MaxInFlight != DefaultMaxInFlight || s.Config().IdleTimeout != -1 {
		t.Fatalf("NewServer must default a copy: %v %+v", err, cfg)
	}
}

func TestBufferClasses(t *testing.T) {
	for _, tc := range []struct{ n, size int }{
		{0, 512}, {1, 512}, {512, 512}, {513, 1024}, {4096, 4096}, {4097, 8192}, {16 << 20, 16 << 20}, {16<<20 + 1, 16<<20 + 1},
	} {
		b := getBuffer(tc.n)
		if len(b.b) != tc.size {
			t.Errorf("getBuffer(%d): %d bytes, want %d", tc.n, len(b.b), tc.size)
		}
		putBuffer(b)
	}
	r := GetResponse()
	b := r.Alloc(100)
	if len(b) != 0 || cap(b) < 100 {
		t.Fatalf("Alloc(100): len %d cap %d", len(b), cap(b))
	}
	r.Parts = append(r.Parts, Part{Buf: append(b, "x"...)}, Part{Fd: 3, Len: 10}, Part{Fd: 3, Len: -1})
	if n := r.computeSize(); n != 11 {
		t.Fatalf("size %d, want 11", n)
	}
	done := 0
	r.OnDone = func() { done++ }
	r.release()
	if done != 1 || len(r.Parts) != 0 || len(r.bufs) != 0 || r.OnDone != nil {
		t.Fatalf("release: done %d, %d parts, %d bufs", done, len(r.Parts), len(r.bufs))
	}
}

// TestDisconnectWhilePaused: a client that leaves while its connection is
// not being read (in-flight limit) is closed, and every response, including
// replies that come after, is released once.
func TestDisconnectWhilePaused(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		var hold holder
		h := hold.handler()
		ts := startServer(t, tr, Config{MaxInFlight: 4, ReadBufferBytes: 4096}, h)
		c := ts.dial(t)
		var stream []byte
		for i := range 50 {
			stream = appendFrame(stream, payload(0, i, 1000))
		}
		c.Write(stream)
		waitFor(t, 5*time.Second, "the first requests", func() bool { return hold.count() == 4 })
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
		time.Sleep(50 * time.Millisecond)
		var tk tracker
		hold.replyAll(&tk)
		waitFor(t, 5*time.Second, "OnClose", func() bool { return h.closed.Load() == 1 })
		tk.check(t)
	})
}

// holder holds every request it is handed, unanswered, until replyAll.
type holder struct {
	mu      sync.Mutex
	pending []heldReq
}

type heldReq struct {
	c   *Conn
	seq uint64
}

func (h *holder) handler() *handler {
	return &handler{req: func(c *Conn, seq uint64, _ []byte) {
		h.mu.Lock()
		h.pending = append(h.pending, heldReq{c, seq})
		h.mu.Unlock()
	}}
}

func (h *holder) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.pending)
}

// replyAll answers every held request late, with tracked responses.
func (h *holder) replyAll(tk *tracker) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.pending {
		p.c.Reply(p.seq, tk.track(echoResponse([]byte("late"))))
	}
}
