package netpoll

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	// netReadBufferBytes is the bufio.Reader size per "net" connection;
	// frames up to this size are handed to the handler from it without
	// copying, larger ones are read into pooled buffers.
	netReadBufferBytes = 16 << 10
	// netFileChunk is the pread buffer for file parts on "net".
	netFileChunk = 256 << 10
)

// errDrain stops a "net" reader when Server.Close starts draining.
var errDrain = errors.New("netpoll: draining")

// netTransport runs each connection with the net package: a reader
// goroutine (which calls the Handler) and a writer goroutine.
type netTransport struct {
	s          *Server
	ln         net.Listener
	wg         sync.WaitGroup // one count per connection, until OnClose returned
	shutdownCh chan struct{}  // closed by shutdown

	mu struct {
		sync.Mutex
		conns    map[*Conn]struct{}
		draining bool
	}
}

// netConn is a "net" connection's transport state.
type netConn struct {
	s          *Server
	conn       net.Conn
	br         *bufio.Reader
	lastActive atomic.Int64  // server clock at the last byte read or written
	wakeW      chan struct{} // cap 1: responses became writable
	wakeR      chan struct{} // cap 1: the reader may be able to go on
	closed     chan struct{} // closed by fail
	writerDone chan struct{} // closed when the writer goroutine exits

	hdr [4]byte // reader-owned

	// Writer-owned scratch.
	batch []*Response
	bufs  [][]byte
	wb    net.Buffers
}

func newNetTransport(s *Server, ln net.Listener) transport {
	return &netTransport{s: s, ln: ln, shutdownCh: make(chan struct{})}
}

func (t *netTransport) run() error {
	stopSweep := make(chan struct{})
	if t.s.cfg.IdleTimeout > 0 {
		go t.sweep(stopSweep)
	}
	t.accept()
	<-t.shutdownCh
	t.wg.Wait()
	close(stopSweep)
	return ErrServerClosed
}

func (t *netTransport) shutdown() {
	t.mu.Lock()
	t.mu.draining = true
	conns := t.snapshotLocked(nil)
	t.mu.Unlock()
	t.ln.Close()
	for _, c := range conns {
		c.nc.startDrain(c)
	}
	close(t.shutdownCh)

	allDone := make(chan struct{})
	go func() {
		t.wg.Wait()
		close(allDone)
	}()
	go func() {
		timer := time.NewTimer(time.Duration(t.s.drainDeadline.Load() - t.s.now()))
		defer timer.Stop()
		select {
		case <-allDone:
		case <-timer.C:
			t.mu.Lock()
			conns := t.snapshotLocked(nil)
			t.mu.Unlock()
			for _, c := range conns {
				c.nc.fail(c, ErrServerClosed)
			}
		}
	}()
}

// snapshotLocked appends the open connections to dst. t.mu must be held.
func (t *netTransport) snapshotLocked(dst []*Conn) []*Conn {
	for c := range t.mu.conns {
		dst = append(dst, c)
	}
	return dst
}

func (t *netTransport) draining() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.mu.draining
}

func (t *netTransport) accept() {
	var delay time.Duration
	for {
		nc, err := t.ln.Accept()
		if err != nil {
			if t.draining() {
				return
			}
			if temporaryAcceptError(err) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				t.s.log.Warn("netpoll: accept failed; retrying", "err", err, "delay", delay)
				time.Sleep(delay)
				continue
			}
			t.s.log.Error("netpoll: accept failed; no longer accepting", "err", err)
			return
		}
		delay = 0
		t.start(nc)
	}
}

func temporaryAcceptError(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func (t *netTransport) start(conn net.Conn) {
	n := &netConn{
		s:          t.s,
		conn:       conn,
		wakeW:      make(chan struct{}, 1),
		wakeR:      make(chan struct{}, 1),
		closed:     make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	n.br = bufio.NewReaderSize(n, netReadBufferBytes)
	c := &Conn{srv: t.s, nc: n}
	t.mu.Lock()
	if t.mu.draining {
		t.mu.Unlock()
		conn.Close()
		return
	}
	if t.mu.conns == nil {
		t.mu.conns = make(map[*Conn]struct{})
	}
	t.mu.conns[c] = struct{}{}
	t.wg.Add(1)
	t.mu.Unlock()
	go t.serveConn(c)
}

// serveConn is the connection's reader goroutine, the "event loop" on which
// its Handler methods run.
func (t *netTransport) serveConn(c *Conn) {
	defer t.wg.Done()
	n := c.nc
	n.lastActive.Store(t.s.now())
	t.s.h.OnOpen(c)
	go n.writeLoop(c)

	err := n.readLoop(c)
	if errors.Is(err, errDrain) || (errors.Is(err, os.ErrDeadlineExceeded) && c.isDraining()) {
		n.drainWait(c)
		err = ErrServerClosed
	}
	n.fail(c, err)
	<-n.writerDone

	c.mu.Lock()
	err = c.mu.closeErr
	rs := c.takeAllLocked(n.batch[:0])
	c.mu.Unlock()
	for _, r := range rs {
		r.release()
	}
	clear(rs)
	t.mu.Lock()
	delete(t.mu.conns, c)
	t.mu.Unlock()
	t.s.logClose(c, err)
	t.s.h.OnClose(c, err)
}

func (c *Conn) isDraining() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.draining
}

// Read reads from the socket for the bufio.Reader, noting activity.
func (n *netConn) Read(p []byte) (int, error) {
	k, err := n.conn.Read(p)
	if k > 0 {
		n.lastActive.Store(n.s.now())
	}
	return k, err
}

// readLoop reads and dispatches frames until an error.
func (n *netConn) readLoop(c *Conn) error {
	limit := n.s.cfg.MaxRequestBytes
	for {
		if n.br.Buffered() < 4 {
			n.endBatch(c)
		}
		if _, err := n.wait(c, false); err != nil {
			return err
		}
		if _, err := io.ReadFull(n.br, n.hdr[:]); err != nil {
			return readError(err)
		}
		size := int32(binary.BigEndian.Uint32(n.hdr[:]))
		if size < 0 || int(size) > limit {
			return fmt.Errorf("%w: %d bytes, limit %d (socket.request.max.bytes)", ErrFrameSize, size, limit)
		}
		var frame []byte
		var big *buffer
		if int(size) <= n.br.Size() {
			if n.br.Buffered() < int(size) {
				n.endBatch(c)
			}
			f, err := n.br.Peek(int(size))
			if err != nil {
				return readError(err)
			}
			frame = f[:size:size]
		} else {
			n.endBatch(c)
			b, err := readLarge(n.br, int(size))
			if err != nil {
				return readError(err)
			}
			big, frame = b, b.b[:size:size]
		}
		seq, err := n.wait(c, true)
		if err != nil {
			if big != nil {
				putBuffer(big)
			}
			return err
		}
		n.s.h.OnRequest(c, seq, frame)
		if big != nil {
			putBuffer(big)
		} else {
			n.br.Discard(int(size))
		}
	}
}

// readLarge reads a frame larger than the bufio buffer into a pooled
// buffer that grows as bytes arrive (see frameChunk in the epoll code).
func readLarge(r io.Reader, size int) (*buffer, error) {
	b := getBuffer(min(size, 1<<20))
	have := 0
	for have < size {
		if have == len(b.b) {
			nb := getBuffer(min(size, 2*len(b.b)))
			copy(nb.b, b.b[:have])
			putBuffer(b)
			b = nb
		}
		k, err := r.Read(b.b[have:min(len(b.b), size)])
		have += k
		if err != nil && have < size {
			putBuffer(b)
			return nil, err
		}
	}
	return b, nil
}

func readError(err error) error {
	if err == io.ErrUnexpectedEOF {
		return io.EOF
	}
	return err
}

// wait blocks while the connection's limits forbid reading, and, if
// reserve, assigns the next seq (marking the connection inLoop).
func (n *netConn) wait(c *Conn, reserve bool) (uint64, error) {
	for {
		c.mu.Lock()
		switch {
		case c.mu.closeReq:
			c.mu.Unlock()
			return 0, ErrConnClosed
		case c.mu.draining:
			c.mu.Unlock()
			return 0, errDrain
		case c.limitsOKLocked():
			c.mu.waiting = false
			var seq uint64
			if reserve {
				c.mu.inLoop = true
				seq = c.reserveLocked()
			}
			c.mu.Unlock()
			return seq, nil
		}
		c.mu.waiting = true
		c.mu.inLoop = false
		pending := c.mu.outHead < len(c.mu.out)
		c.mu.Unlock()
		if pending {
			signal(n.wakeW)
		}
		select {
		case <-n.wakeR:
		case <-n.closed:
			return 0, net.ErrClosed
		}
	}
}

// drainWait waits until every dispatched request was answered and written,
// or the connection was closed.
func (n *netConn) drainWait(c *Conn) {
	for {
		c.mu.Lock()
		idle := c.idleLocked()
		c.mu.waiting = !idle
		c.mu.inLoop = false
		pending := c.mu.outHead < len(c.mu.out)
		c.mu.Unlock()
		if idle {
			return
		}
		if pending {
			signal(n.wakeW)
		}
		select {
		case <-n.wakeR:
		case <-n.closed:
			return
		}
	}
}

// endBatch ends the reader's batch before it may block: the writer is
// told about responses queued synchronously during the batch.
func (n *netConn) endBatch(c *Conn) {
	c.mu.Lock()
	c.mu.inLoop = false
	pending := c.mu.outHead < len(c.mu.out)
	c.mu.Unlock()
	if pending {
		signal(n.wakeW)
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// wake is Conn.wake for "net".
func (n *netConn) wake() {
	signal(n.wakeW)
	signal(n.wakeR)
}

// fail closes the connection with err, if it is the first reason.
func (n *netConn) fail(c *Conn, err error) {
	c.mu.Lock()
	if c.mu.closeErr != nil {
		c.mu.Unlock()
		return
	}
	c.mu.closeErr = err
	c.mu.Unlock()
	n.conn.Close()
	close(n.closed)
}

func (n *netConn) startDrain(c *Conn) {
	c.mu.Lock()
	c.mu.draining = true
	c.mu.Unlock()
	n.conn.SetReadDeadline(time.Unix(1, 0)) // interrupt a blocked read
	signal(n.wakeR)
}

// writeLoop writes ready responses in order until the connection closes.
func (n *netConn) writeLoop(c *Conn) {
	defer close(n.writerDone)
	for {
		select {
		case <-n.wakeW:
		case <-n.closed:
			return
		}
		for {
			c.mu.Lock()
			if c.mu.outHead == len(c.mu.out) {
				c.mu.out, c.mu.outHead = c.mu.out[:0], 0
				c.mu.Unlock()
				break
			}
			n.batch = append(n.batch[:0], c.mu.out[c.mu.outHead:]...)
			c.mu.Unlock()

			written, err := n.writeBatch(n.batch)
			if err != nil {
				clear(n.batch) // still in c.mu.out: released by the teardown
				n.fail(c, err)
				return
			}
			n.lastActive.Store(n.s.now())
			c.mu.Lock()
			for range n.batch {
				c.mu.out[c.mu.outHead] = nil
				c.mu.outHead++
			}
			c.mu.queued -= written
			wakeReader := c.mu.waiting
			c.mu.Unlock()
			if wakeReader {
				signal(n.wakeR)
			}
			for i, r := range n.batch {
				n.batch[i] = nil
				r.release()
			}
		}
	}
}

// writeBatch writes the responses' parts: runs of buffers with one writev
// (net.Buffers), file regions through pread.
func (n *netConn) writeBatch(batch []*Response) (int64, error) {
	var total int64
	bufs := n.bufs[:0]
	for _, r := range batch {
		for i := range r.Parts {
			p := &r.Parts[i]
			switch {
			case p.Buf != nil:
				if len(p.Buf) > 0 {
					bufs = append(bufs, p.Buf)
				}
			case p.Len > 0:
				if err := n.writeBufs(bufs); err != nil {
					return 0, err
				}
				bufs = bufs[:0]
				if err := n.writeFile(p); err != nil {
					return 0, err
				}
			}
			total += p.size()
		}
	}
	err := n.writeBufs(bufs)
	n.bufs = bufs[:0]
	return total, err
}

func (n *netConn) writeBufs(bufs [][]byte) error {
	if len(bufs) == 0 {
		return nil
	}
	n.wb = bufs
	_, err := n.wb.WriteTo(n.conn)
	clear(bufs)
	n.wb = nil
	return err
}

func (n *netConn) writeFile(p *Part) error {
	b := getBuffer(int(min(p.Len, netFileChunk)))
	defer putBuffer(b)
	off, left := p.Off, p.Len
	for left > 0 {
		k, err := pread(p.Fd, b.b[:min(left, int64(len(b.b)))], off)
		if err != nil {
			return fmt.Errorf("netpoll: pread fd %d at %d: %w", p.Fd, off, err)
		}
		if k == 0 {
			return fmt.Errorf("%w: fd %d, offset %d, %d bytes", ErrShortFile, p.Fd, off, left)
		}
		if _, err := n.conn.Write(b.b[:k]); err != nil {
			return err
		}
		off += int64(k)
		left -= int64(k)
	}
	return nil
}

// sweep closes idle connections.
func (t *netTransport) sweep(stop chan struct{}) {
	tick := time.NewTicker(t.s.sweepInterval())
	defer tick.Stop()
	idle := int64(t.s.cfg.IdleTimeout)
	var conns []*Conn
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		now := t.s.now()
		t.mu.Lock()
		conns = t.snapshotLocked(conns[:0])
		t.mu.Unlock()
		for _, c := range conns {
			c.mu.Lock()
			c.shrinkLocked()
			expired := now-c.nc.lastActive.Load() >= idle && c.idleLocked()
			c.mu.Unlock()
			if expired {
				c.nc.fail(c, ErrIdleTimeout)
			}
		}
		clear(conns)
	}
}
