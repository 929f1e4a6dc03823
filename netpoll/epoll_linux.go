//go:build linux

package netpoll

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	epollSupported   = true
	defaultTransport = TransportEpoll

	// iovMax is the most iovecs one writev takes (Linux IOV_MAX).
	iovMax = 1024
	// writeBurst is the most bytes written to one connection before the
	// loop turns to its other connections (it comes back on EPOLLOUT).
	writeBurst = 4 << 20
	// frameChunk: a partial frame up to this size gets a buffer for all of
	// it at once; a larger one starts at this size, or at up to 8× the size
	// of the connection's last assembled frame (bytes the client did send),
	// and grows to 8× the bytes received as they arrive, so a client that
	// announces a huge frame and sends little commits little memory.
	frameChunk = 1 << 20
	// acceptBatch bounds the connections accepted per listener event.
	acceptBatch = 64
	// acceptBackoff pauses accepting after EMFILE and friends.
	acceptBackoff = 100_000_000 // ns
)

// eventfdOne is the 8-byte counter increment written to wake a loop.
var eventfdOne = [8]byte{1}

// epollConn is a connection's state owned by its loop goroutine.
//
// Read states:
//   - idle: rbuf == nil, nhdr == 0.
//   - partial size: rbuf == nil, hdr[:nhdr] holds 1 to 3 bytes of a size.
//   - assembling: rneed > 0; rbuf.b[:rhi] holds the first rhi bytes of a
//     frame of rneed bytes (len(rbuf.b) may be < rneed: it grows).
//   - stashed: rneed == 0, rbuf != nil; rbuf.b[rlo:rhi] are unparsed stream
//     bytes kept when dispatching stopped (paused) in the middle of a read.
type epollConn struct {
	fd         int
	sa         unix.Sockaddr // peer, from accept4
	events     uint32        // current epoll interest
	lastActive int64         // server clock at the last byte read or written

	rbuf     *buffer
	rlo, rhi int
	rneed    int
	lastBig  int // size of the last frame assembled in its own buffer
	hdr      [4]byte
	nhdr     int
	paused   bool  // not reading: limits reached, or a frame awaits dispatch
	wantOut  bool  // waiting for EPOLLOUT
	dead     bool  // torn down
	wpart    int   // write cursor: part index in out[outHead]
	woff     int64 // write cursor: bytes of that part already written
}

func (e *epollConn) remoteAddr() net.Addr {
	switch a := e.sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(append([]byte(nil), a.Addr[:]...)), Port: a.Port}
	case *unix.SockaddrInet6:
		var zone string
		if a.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(a.ZoneId)); err == nil {
				zone = ifi.Name
			}
		}
		return &net.TCPAddr{IP: net.IP(append([]byte(nil), a.Addr[:]...)), Port: a.Port, Zone: zone}
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: a.Name, Net: "unix"}
	}
	return nil
}

// epollTransport runs connections on Config.Loops epoll loops. Loop 0 also
// accepts.
type epollTransport struct {
	s     *Server
	loops []*loop
	wg    sync.WaitGroup
}

// loop is one event loop: a goroutine blocked in epoll_wait, the
// connections registered with it, and what it shares with other goroutines
// (the wake list, under mu).
type loop struct {
	s  *Server
	t  *epollTransport
	id int

	epfd int
	// epFile holds epfd registered with the Go runtime's poller, so that
	// an idle loop parks like any goroutine waiting on a socket instead of
	// blocking its thread in epoll_wait (nil if the runtime refused it).
	epFile   *os.File
	epRaw    syscall.RawConn
	deadline int64 // read deadline set on epFile (server clock), -1: none
	// pollFn is epRaw.Read's callback, made once: a closure made per
	// wait would allocate each time the loop parks.
	pollFn  func(fd uintptr) bool
	pollN   int
	pollErr error
	efd     int // eventfd, woken by schedule
	lfd     int // listener (loop 0 only), -1 otherwise or once closed

	// Loop-goroutine state.
	events      []unix.EpollEvent
	buf         []byte       // shared read buffer
	iov         []unix.Iovec // writev scratch, cap iovMax
	done        []*Response  // responses finished by a flush, to release
	conns       []*Conn      // by fd
	nconns      int
	now         int64 // server clock, read after each epoll_wait
	nextSweep   int64
	acceptAgain int64 // when accepting resumes after a backoff, 0 if not paused
	rr          int   // round-robin cursor for accepted connections
	draining    bool
	ev          unix.EpollEvent // epoll_ctl scratch
	sfOff       int64           // sendfile offset scratch
	spareWake   []*Conn
	spareNew    []*Conn

	// mu guards what other goroutines hand to the loop. Held only briefly;
	// the eventfd write happens under it so that the fd cannot be closed
	// (and its number reused) between the dead check and the write.
	mu struct {
		sync.Mutex
		wake     []*Conn // connections to service
		newConns []*Conn // accepted connections to open
		notified bool    // eventfd written since the loop last looked
		drain    bool    // Server.Close was called
		dead     bool    // loop exited; efd closed
	}
}

func newEpollTransport(s *Server, ln net.Listener) (transport, error) {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("netpoll: the epoll transport needs a listener with a file descriptor (syscall.Conn), not %T", ln)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("netpoll: listener: %w", err)
	}
	lfd := -1
	var derr error
	if err := raw.Control(func(fd uintptr) {
		lfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return nil, fmt.Errorf("netpoll: listener: %w", err)
	}
	if derr != nil {
		return nil, fmt.Errorf("netpoll: dup listener: %w", derr)
	}
	if err := unix.SetNonblock(lfd, true); err != nil {
		unix.Close(lfd)
		return nil, fmt.Errorf("netpoll: listener: %w", err)
	}
	t := &epollTransport{s: s}
	for i := 0; i < s.cfg.Loops; i++ {
		l, err := newLoop(t, i)
		if err != nil {
			for _, l := range t.loops {
				l.closeFds()
			}
			unix.Close(lfd)
			return nil, err
		}
		t.loops = append(t.loops, l)
	}
	l0 := t.loops[0]
	l0.lfd = lfd
	if err := l0.ctl(unix.EPOLL_CTL_ADD, lfd, unix.EPOLLIN); err != nil {
		for _, l := range t.loops {
			l.closeFds()
		}
		unix.Close(lfd)
		return nil, fmt.Errorf("netpoll: epoll_ctl listener: %w", err)
	}
	return t, nil
}

func newLoop(t *epollTransport, id int) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("netpoll: epoll_create1: %w", err)
	}
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("netpoll: eventfd: %w", err)
	}
	l := &loop{
		s: t.s, t: t, id: id,
		epfd: epfd, efd: efd, lfd: -1,
		events: make([]unix.EpollEvent, 256),
		buf:    make([]byte, t.s.cfg.ReadBufferBytes),
		iov:    make([]unix.Iovec, 0, iovMax),
	}
	if err := l.ctl(unix.EPOLL_CTL_ADD, efd, unix.EPOLLIN); err != nil {
		l.closeFds()
		return nil, fmt.Errorf("netpoll: epoll_ctl eventfd: %w", err)
	}
	l.registerEpoll()
	return l, nil
}

// registerEpoll hands epfd to the runtime's poller: an epoll fd is
// readable while it has events, so the loop can wait for it as for a
// socket. Without this, a blocked epoll_wait holds a thread in a system
// call, which the runtime's monitor takes the P from after 20 µs and which
// needs a thread handoff to resume: thousands of futex wakes and
// nanosleeps a second under a steady trickle of requests.
func (l *loop) registerEpoll() {
	l.deadline = -1
	if unix.SetNonblock(l.epfd, true) != nil {
		return
	}
	// The file owns epfd from here on (closeEpoll closes it).
	l.epFile = os.NewFile(uintptr(l.epfd), "epoll")
	rc, err := l.epFile.SyscallConn()
	if err == nil {
		// Deadlines work only on files the poller took.
		err = l.epFile.SetReadDeadline(time.Time{})
	}
	if err == nil {
		l.epRaw = rc
		l.pollFn = func(fd uintptr) bool {
			l.pollN, l.pollErr = unix.EpollWait(int(fd), l.events, 0)
			return l.pollErr != nil || l.pollN > 0
		}
	}
	// Otherwise wait blocks in epoll_wait, which ignores O_NONBLOCK.
}

func (l *loop) closeEpoll() {
	if l.epFile != nil {
		l.epFile.Close()
		return
	}
	unix.Close(l.epfd)
}

func (l *loop) closeFds() {
	unix.Close(l.efd)
	l.closeEpoll()
}

func (l *loop) ctl(op, fd int, events uint32) error {
	l.ev = unix.EpollEvent{Events: events, Fd: int32(fd)}
	return unix.EpollCtl(l.epfd, op, fd, &l.ev)
}

func (t *epollTransport) run() error {
	for _, l := range t.loops {
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			l.run()
		}()
	}
	t.wg.Wait()
	return ErrServerClosed
}

func (t *epollTransport) shutdown() {
	for _, l := range t.loops {
		l.mu.Lock()
		l.mu.drain = true
		l.notifyLocked()
		l.mu.Unlock()
	}
}

// notifyLocked wakes the loop unless it is already woken or gone.
// l.mu must be held.
func (l *loop) notifyLocked() {
	if l.mu.notified || l.mu.dead {
		return
	}
	l.mu.notified = true
	for {
		_, err := unix.Write(l.efd, eventfdOne[:])
		if err != unix.EINTR {
			return // EAGAIN: the counter is already huge, the loop is awake
		}
	}
}

// schedule asks the loop to service c. Any goroutine.
func (l *loop) schedule(c *Conn) {
	l.mu.Lock()
	if !l.mu.dead {
		l.mu.wake = append(l.mu.wake, c)
		l.notifyLocked()
	}
	l.mu.Unlock()
}

// enqueueNew hands an accepted connection to the loop. Any goroutine.
func (l *loop) enqueueNew(c *Conn, self bool) {
	l.mu.Lock()
	if l.mu.dead {
		l.mu.Unlock()
		unix.Close(c.e.fd)
		return
	}
	l.mu.newConns = append(l.mu.newConns, c)
	if !self {
		l.notifyLocked()
	}
	l.mu.Unlock()
}

func (l *loop) run() {
	interval := int64(l.s.sweepInterval())
	l.now = l.s.now()
	l.nextSweep = l.now + interval
	for {
		n, err := l.wait()
		if err != nil && err != unix.EINTR {
			// Cannot happen with valid arguments; give up on this loop.
			l.s.log.Error("netpoll: epoll_wait failed; closing the loop's connections", "loop", l.id, "err", err)
			l.closeAll(os.NewSyscallError("epoll_wait", err))
			l.exit(true)
			return
		}
		l.now = l.s.now()
		for i := 0; i < n; i++ {
			ev := &l.events[i]
			fd := int(ev.Fd)
			switch {
			case fd == l.efd:
				var b [8]byte
				unix.Read(l.efd, b[:])
			case fd == l.lfd:
				l.accept()
			case fd < len(l.conns) && l.conns[fd] != nil:
				l.onEvent(l.conns[fd], ev.Events)
			}
		}
		l.processWakeups()
		l.timers(interval)
		if l.draining && l.nconns == 0 && l.exit(false) {
			return
		}
	}
}

// wait returns the next events. It polls without blocking first, and again
// after letting other goroutines run on this P; under load the next events
// are usually ready by then. Then it parks on the runtime's poller until
// epfd is readable or the next timer is due (see registerEpoll), or, if
// the poller refused epfd, blocks in epoll_wait.
func (l *loop) wait() (int, error) {
	for i := range 2 {
		r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(l.epfd),
			uintptr(unsafe.Pointer(&l.events[0])), uintptr(len(l.events)), 0, 0, 0)
		if e != 0 && e != unix.EINTR {
			return 0, e
		}
		if e == 0 && r > 0 {
			return int(r), nil
		}
		if i == 0 {
			runtime.Gosched()
		}
	}
	if l.epRaw == nil {
		return unix.EpollWait(l.epfd, l.events, l.waitMillis())
	}
	next := l.nextTimer()
	if next >= 0 && next <= l.s.now() {
		return 0, nil
	}
	if next != l.deadline {
		var t time.Time
		if next >= 0 {
			t = l.s.epoch.Add(time.Duration(next))
		}
		l.epFile.SetReadDeadline(t)
		l.deadline = next
	}
	err := l.epRaw.Read(l.pollFn)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return l.pollN, l.pollErr
}

// nextTimer is when the loop's next timer is due (server clock), or -1.
func (l *loop) nextTimer() int64 {
	next := int64(-1)
	if l.s.cfg.IdleTimeout > 0 {
		next = l.nextSweep
	}
	if l.draining {
		if d := l.s.drainDeadline.Load(); next < 0 || d < next {
			next = d
		}
	}
	if l.acceptAgain != 0 && (next < 0 || l.acceptAgain < next) {
		next = l.acceptAgain
	}
	return next
}

// waitMillis is the epoll_wait timeout: until the next timer, or forever.
func (l *loop) waitMillis() int {
	next := l.nextTimer()
	if next < 0 {
		return -1
	}
	d := next - l.s.now()
	if d <= 0 {
		return 0
	}
	return int((d + 999_999) / 1_000_000)
}

// exit stops the loop if nothing is left to hand to it (or if forced).
func (l *loop) exit(force bool) bool {
	l.mu.Lock()
	if !force && (len(l.mu.newConns) > 0 || len(l.mu.wake) > 0) {
		l.mu.Unlock()
		return false
	}
	for _, c := range l.mu.newConns {
		unix.Close(c.e.fd)
	}
	l.mu.newConns, l.mu.wake = nil, nil
	l.mu.dead = true
	unix.Close(l.efd)
	l.mu.Unlock()
	if l.lfd >= 0 {
		unix.Close(l.lfd)
		l.lfd = -1
	}
	l.closeEpoll()
	return true
}

func (l *loop) processWakeups() {
	l.mu.Lock()
	wake, newConns := l.mu.wake, l.mu.newConns
	l.mu.wake, l.mu.newConns = l.spareWake[:0], l.spareNew[:0]
	l.mu.notified = false
	drain := l.mu.drain
	l.mu.Unlock()

	if drain && !l.draining {
		l.startDrain()
	}
	for i, c := range newConns {
		newConns[i] = nil
		l.open(c)
	}
	for i, c := range wake {
		wake[i] = nil
		c.mu.Lock()
		c.mu.scheduled = false
		c.mu.Unlock()
		if !c.e.dead {
			l.service(c)
		}
	}
	l.spareWake, l.spareNew = wake[:0], newConns[:0]
}

func (l *loop) timers(interval int64) {
	if l.acceptAgain != 0 && l.now >= l.acceptAgain {
		l.acceptAgain = 0
		if l.lfd >= 0 {
			if err := l.ctl(unix.EPOLL_CTL_MOD, l.lfd, unix.EPOLLIN); err != nil {
				l.s.log.Error("netpoll: cannot resume accepting", "err", err)
			}
		}
	}
	if l.draining && l.now >= l.s.drainDeadline.Load() {
		l.closeAll(ErrServerClosed)
	}
	if idle := int64(l.s.cfg.IdleTimeout); idle > 0 && l.now >= l.nextSweep {
		l.nextSweep = l.now + interval
		for _, c := range l.conns {
			if c == nil {
				continue
			}
			c.mu.Lock()
			c.shrinkLocked()
			expired := l.now-c.e.lastActive >= idle && c.idleLocked()
			c.mu.Unlock()
			if expired {
				l.closeConn(c, ErrIdleTimeout)
			}
		}
	}
}

func (l *loop) closeAll(err error) {
	for _, c := range l.conns {
		if c != nil {
			l.closeConn(c, err)
		}
	}
}

func (l *loop) startDrain() {
	l.draining = true
	if l.lfd >= 0 {
		unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, l.lfd, nil)
		unix.Close(l.lfd)
		l.lfd = -1
		l.acceptAgain = 0
	}
	for _, c := range l.conns {
		if c == nil {
			continue
		}
		c.mu.Lock()
		c.mu.draining = true
		c.mu.Unlock()
		l.service(c)
	}
}

// accept takes pending connections off the listener and deals them to the
// loops round-robin.
func (l *loop) accept() {
	for range acceptBatch {
		fd, sa, err := unix.Accept4(l.lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			switch err {
			case unix.EAGAIN:
			case unix.EINTR, unix.ECONNABORTED, unix.EPROTO, unix.EPERM:
				continue
			case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
				l.s.log.Warn("netpoll: accept failed; pausing accepts", "err", err, "pause_ms", acceptBackoff/1_000_000)
				if l.ctl(unix.EPOLL_CTL_MOD, l.lfd, 0) == nil {
					l.acceptAgain = l.now + acceptBackoff
				}
			default:
				l.s.log.Error("netpoll: accept failed; no longer accepting", "err", err)
				unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, l.lfd, nil)
				unix.Close(l.lfd)
				l.lfd = -1
			}
			return
		}
		if _, ok := sa.(*unix.SockaddrUnix); !ok {
			unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		}
		target := l.t.loops[l.rr%len(l.t.loops)]
		l.rr++
		c := &Conn{srv: l.s, loop: target}
		c.e.fd, c.e.sa = fd, sa
		target.enqueueNew(c, target == l)
	}
}

func (l *loop) open(c *Conn) {
	fd := c.e.fd
	if l.draining {
		unix.Close(fd)
		return
	}
	if fd >= len(l.conns) {
		conns := make([]*Conn, max(fd+1, 2*len(l.conns), 64))
		copy(conns, l.conns)
		l.conns = conns
	}
	l.conns[fd] = c
	l.nconns++
	c.e.lastActive = l.now
	c.e.events = unix.EPOLLIN | unix.EPOLLRDHUP
	if err := l.ctl(unix.EPOLL_CTL_ADD, fd, c.e.events); err != nil {
		// Not opened: no OnOpen, no OnClose.
		l.s.log.Error("netpoll: epoll_ctl add connection", "err", err)
		l.conns[fd] = nil
		l.nconns--
		unix.Close(fd)
		return
	}
	l.s.h.OnOpen(c)
	l.service(c)
}

// onEvent handles epoll events for c.
func (l *loop) onEvent(c *Conn, ev uint32) {
	e := &c.e
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		if !e.paused && !l.draining {
			if !l.read(c) {
				return
			}
		} else if ev&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			// Not reading, and the peer is gone: as Kafka, close now.
			l.closeConn(c, peerError(e.fd))
			return
		}
	}
	l.service(c)
}

func peerError(fd int) error {
	if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); err == nil && v != 0 {
		return os.NewSyscallError("read", unix.Errno(v))
	}
	return io.EOF
}

// readFd reads into b, retrying EINTR. n > 0 bytes, or n == 0 with err
// nil at EOF, or an error (EAGAIN included).
func readFd(fd int, b []byte) (int, error) {
	for {
		n, err := unix.Read(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		return n, nil
	}
}

// read does one read(2) for c and dispatches what it completes. It returns
// false if c was closed.
func (l *loop) read(c *Conn) bool {
	e := &c.e
	if e.rneed > 0 {
		if e.rhi == len(e.rbuf.b) {
			l.growFrame(c)
		}
		n, err := readFd(e.fd, e.rbuf.b[e.rhi:min(len(e.rbuf.b), e.rneed)])
		if n == 0 {
			return l.readFailed(c, err)
		}
		e.lastActive = l.now
		e.rhi += n
		if e.rhi < e.rneed {
			return true
		}
		l.deliverFrame(c)
		return true
	}
	if e.lastBig >= len(l.buf) {
		return l.readSize(c)
	}
	b := l.buf
	k := copy(b, e.hdr[:e.nhdr])
	n, err := readFd(e.fd, b[k:])
	if n == 0 {
		return l.readFailed(c, err)
	}
	e.lastActive = l.now
	e.nhdr = 0
	return l.parse(c, b[:k+n], nil)
}

// readSize is read for a connection whose last frame was at least as
// large as the loop buffer (a producer sending big batches): it reads the
// 4-byte size alone, then the frame straight into a buffer of its own, so
// that no part of a big frame is read into the loop buffer and copied out
// of it (about 4% of the broker's CPU at 300 MB/s of produce). That costs
// one more read(2) per frame; the connection returns to reading into the
// loop buffer after its first frame smaller than that buffer.
func (l *loop) readSize(c *Conn) bool {
	e := &c.e
	n, err := readFd(e.fd, e.hdr[e.nhdr:])
	if n == 0 {
		return l.readFailed(c, err)
	}
	e.lastActive = l.now
	if e.nhdr += n; e.nhdr < len(e.hdr) {
		return true
	}
	e.nhdr = 0
	size, ok := l.frameSize(c, e.hdr[:])
	if !ok {
		return false
	}
	if size == 0 {
		return l.parse(c, e.hdr[:], nil)
	}
	e.rbuf, e.rneed, e.rhi = getBuffer(e.frameBufferSize(size, 0)), size, 0
	return l.read(c)
}

// frameBufferSize is the size of the first buffer for a frame of size
// bytes of which have bytes arrived: all of it up to frameChunk, or if the
// connection's last frame was large, up to 8× that one (as growFrame
// allows 8× the bytes received), so that a producer whose requests vary
// around a few MiB gets one buffer per frame, not one grown and copied on
// the way.
func (e *epollConn) frameBufferSize(size, have int) int {
	if size <= frameChunk {
		return size
	}
	return min(size, max(frameChunk, 2*have, 8*e.lastBig))
}

// frameSize decodes the size at the start of b and closes c if it is
// negative or over socket.request.max.bytes.
func (l *loop) frameSize(c *Conn, b []byte) (int, bool) {
	size := int32(binary.BigEndian.Uint32(b))
	if limit := l.s.cfg.MaxRequestBytes; size < 0 || int(size) > limit {
		l.closeConn(c, fmt.Errorf("%w: %d bytes, limit %d (socket.request.max.bytes)", ErrFrameSize, size, limit))
		return 0, false
	}
	return int(size), true
}

func (l *loop) readFailed(c *Conn, err error) bool {
	switch err {
	case unix.EAGAIN:
		return true
	case nil:
		err = io.EOF
	default:
		err = os.NewSyscallError("read", err)
	}
	l.closeConn(c, err)
	return false
}

// growFrame grows the buffer of a frame being assembled to eight times the
// bytes received (at most the frame): a client commits at most 8× what it
// sent, and a frame of a few MiB is copied once, not at every doubling.
func (l *loop) growFrame(c *Conn) {
	e := &c.e
	nb := getBuffer(min(e.rneed, 8*e.rhi))
	copy(nb.b, e.rbuf.b[:e.rhi])
	putBuffer(e.rbuf)
	e.rbuf = nb
}

// deliverFrame dispatches the assembled frame, unless the connection may
// not take another request now (then it waits, paused).
func (l *loop) deliverFrame(c *Conn) {
	e := &c.e
	seq, ok := c.admit()
	if !ok {
		e.paused = true
		return
	}
	l.s.h.OnRequest(c, seq, e.rbuf.b[:e.rneed:e.rneed])
	putBuffer(e.rbuf)
	e.lastBig = e.rneed
	e.rbuf, e.rneed, e.rhi = nil, 0, 0
}

// parse dispatches the complete frames in src, which is the loop buffer
// (stash == nil) or c's stash (src == stash.b[rlo:rhi]), and keeps what
// remains: the rest of the stream if dispatching stopped, or a partial
// frame. It returns false if c was closed (invalid frame size).
func (l *loop) parse(c *Conn, src []byte, stash *buffer) bool {
	e := &c.e
	off := 0
	for len(src)-off >= 4 {
		size, ok := l.frameSize(c, src[off:])
		if !ok {
			return false
		}
		end := off + 4 + size
		if end > len(src) {
			break
		}
		seq, ok := c.admit()
		if !ok {
			e.paused = true
			break
		}
		l.s.h.OnRequest(c, seq, src[off+4:end:end])
		off = end
	}
	rem := src[off:]
	if e.paused && len(rem) > 0 {
		if stash != nil {
			e.rlo += off
			return true
		}
		b := getBuffer(len(rem))
		e.rbuf, e.rlo, e.rhi = b, 0, copy(b.b, rem)
		return true
	}
	e.rbuf, e.rlo, e.rhi = nil, 0, 0
	switch {
	case len(rem) == 0:
	case len(rem) < 4:
		e.nhdr = copy(e.hdr[:], rem)
	default:
		size := int(binary.BigEndian.Uint32(rem))
		b := getBuffer(e.frameBufferSize(size, len(rem)-4))
		e.rbuf, e.rneed, e.rhi = b, size, copy(b.b, rem[4:])
	}
	if stash != nil {
		putBuffer(stash)
	}
	return true
}

// resumeRead dispatches what was held back while paused. It returns false
// if c was closed.
func (l *loop) resumeRead(c *Conn) bool {
	e := &c.e
	e.paused = false
	switch {
	case e.rneed > 0 && e.rhi == e.rneed:
		l.deliverFrame(c)
	case e.rneed == 0 && e.rbuf != nil:
		return l.parse(c, e.rbuf.b[e.rlo:e.rhi], e.rbuf)
	}
	return true
}

// service writes what c has ready, applies backpressure and draining, and
// resumes reading when the limits allow.
func (l *loop) service(c *Conn) {
	e := &c.e
	for {
		ok, st := l.flush(c)
		if !ok {
			return
		}
		if st.closeReq {
			l.closeConn(c, ErrConnClosed)
			return
		}
		if l.draining {
			if st.idle {
				l.closeConn(c, ErrServerClosed)
				return
			}
			break
		}
		if !st.canRead {
			e.paused = true
			break
		}
		if !e.paused {
			break
		}
		// Each resume dispatches held-back frames or ends the pause, so
		// this loop ends.
		if !l.resumeRead(c) {
			return
		}
	}
	l.updateInterest(c)
}

// connState is what service needs to know of c's shared state, read under
// c.mu by flush.
type connState struct {
	closeReq bool // Close was called
	idle     bool // nothing in flight, nothing queued
	canRead  bool // the backpressure limits allow reading
}

// stateLocked snapshots c's state for service. c.mu must be held.
func (c *Conn) stateLocked() connState {
	return connState{closeReq: c.mu.closeReq, idle: c.idleLocked(), canRead: c.limitsOKLocked()}
}

func (l *loop) updateInterest(c *Conn) {
	e := &c.e
	want := uint32(unix.EPOLLRDHUP)
	if !e.paused && !l.draining {
		want |= unix.EPOLLIN
	}
	if e.wantOut {
		want |= unix.EPOLLOUT
	}
	if want == e.events {
		return
	}
	e.events = want
	if err := l.ctl(unix.EPOLL_CTL_MOD, e.fd, want); err != nil {
		l.closeConn(c, os.NewSyscallError("epoll_ctl", err))
	}
}

// flush writes c's ready responses until the queue is empty, the socket is
// full (then it waits for EPOLLOUT) or the burst budget is spent, and
// returns c's state as of its last look. It returns false if c was closed
// by a write error.
func (l *loop) flush(c *Conn) (bool, connState) {
	e := &c.e
	c.mu.Lock()
	if c.mu.outHead == len(c.mu.out) {
		c.mu.out, c.mu.outHead = c.mu.out[:0], 0
		c.mu.inLoop = false
		st := c.stateLocked()
		c.mu.Unlock()
		e.wantOut = false
		return true, st
	}
	c.mu.inLoop = true
	c.mu.Unlock()
	budget := writeBurst
	for {
		c.mu.Lock()
		iov, file, foff := l.gatherLocked(c)
		c.mu.Unlock()

		var n int
		var errno unix.Errno
		var op string
		switch {
		case file != nil:
			op = "sendfile"
			l.sfOff = file.Off + foff
			n, errno = sendfile(e.fd, file.Fd, &l.sfOff, file.Len-foff)
			if n == 0 && errno == 0 {
				l.closeConn(c, fmt.Errorf("%w: fd %d, offset %d, %d bytes", ErrShortFile, file.Fd, file.Off+foff, file.Len-foff))
				return false, connState{}
			}
		case len(iov) > 0:
			op = "writev"
			n, errno = writev(e.fd, iov)
			clear(iov)
		}
		if n > 0 {
			e.lastActive = l.now
			budget -= n
		}
		stop := errno == unix.EAGAIN || budget <= 0
		empty, st := l.advance(c, n, stop)
		switch {
		case errno == unix.EAGAIN || (errno == 0 && budget <= 0 && !empty):
			e.wantOut = true
			return true, st
		case errno != 0:
			l.closeConn(c, os.NewSyscallError(op, errno))
			return false, connState{}
		case empty:
			e.wantOut = false
			return true, st
		}
	}
}

// gatherLocked collects, from the write cursor on, either consecutive
// buffer parts (across responses) as iovecs, or the one file part that
// comes first. c.mu must be held.
func (l *loop) gatherLocked(c *Conn) (iov []unix.Iovec, file *Part, foff int64) {
	e := &c.e
	iov = l.iov[:0]
	pi, off := e.wpart, e.woff
	for ri := c.mu.outHead; ri < len(c.mu.out); ri++ {
		parts := c.mu.out[ri].Parts
		for ; pi < len(parts); pi, off = pi+1, 0 {
			p := &parts[pi]
			if p.Buf != nil {
				if int64(len(p.Buf)) > off {
					b := p.Buf[off:]
					iov = append(iov, unix.Iovec{Base: &b[0]})
					iov[len(iov)-1].SetLen(len(b))
					if len(iov) == cap(iov) {
						return iov, nil, 0
					}
				}
				continue
			}
			if p.Len > off {
				if len(iov) > 0 {
					return iov, nil, 0
				}
				return nil, p, off
			}
		}
		pi = 0
	}
	return iov, nil, 0
}

// advance moves the write cursor past n written bytes, pops completed
// responses (including empty ones) and releases them. It reports whether
// the queue is now empty, and c's state. When the queue is empty, or if
// stop (the loop is about to leave c with responses queued), it clears
// inLoop so that the next Reply wakes the loop.
func (l *loop) advance(c *Conn, n int, stop bool) (bool, connState) {
	e := &c.e
	rem := int64(n)
	c.mu.Lock()
	c.mu.queued -= rem
	for c.mu.outHead < len(c.mu.out) {
		r := c.mu.out[c.mu.outHead]
		for e.wpart < len(r.Parts) {
			left := r.Parts[e.wpart].size() - e.woff
			if left > rem {
				e.woff += rem
				rem = 0
				break
			}
			rem -= left
			e.wpart++
			e.woff = 0
		}
		if e.wpart < len(r.Parts) {
			break
		}
		c.mu.out[c.mu.outHead] = nil
		c.mu.outHead++
		e.wpart, e.woff = 0, 0
		l.done = append(l.done, r)
	}
	empty := c.mu.outHead == len(c.mu.out)
	if empty {
		c.mu.out, c.mu.outHead = c.mu.out[:0], 0
	}
	if empty || stop {
		c.mu.inLoop = false
	}
	st := c.stateLocked()
	c.mu.Unlock()
	l.releaseDone()
	return empty, st
}

func (l *loop) releaseDone() {
	for i, r := range l.done {
		l.done[i] = nil
		r.release()
	}
	l.done = l.done[:0]
}

// closeConn tears c down: unregisters and closes the socket, releases its
// buffers and every response it holds, and calls OnClose.
func (l *loop) closeConn(c *Conn, err error) {
	e := &c.e
	if e.dead {
		return
	}
	e.dead = true
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, e.fd, nil)
	l.conns[e.fd] = nil
	l.nconns--
	unix.Close(e.fd)
	if e.rbuf != nil {
		putBuffer(e.rbuf)
		e.rbuf = nil
	}
	e.rneed, e.rlo, e.rhi, e.nhdr = 0, 0, 0, 0
	c.mu.Lock()
	l.done = c.takeAllLocked(l.done)
	c.mu.Unlock()
	l.releaseDone()
	l.s.logClose(c, err)
	l.s.h.OnClose(c, err)
}

// writev writes iov to fd, retrying EINTR. It does not allocate.
func writev(fd int, iov []unix.Iovec) (int, unix.Errno) {
	for {
		n, _, e := unix.Syscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int(n), 0
	}
}

// sendfile sends up to n bytes of infd from *off to outfd, retrying EINTR.
func sendfile(outfd, infd int, off *int64, n int64) (int, unix.Errno) {
	n = min(n, 1<<30)
	for {
		w, _, e := unix.Syscall6(unix.SYS_SENDFILE, uintptr(outfd), uintptr(infd), uintptr(unsafe.Pointer(off)), uintptr(n), 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int(w), 0
	}
}
