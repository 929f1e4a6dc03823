package netpoll

import (
	"net"
	"sync"
	"sync/atomic"
)

// Conn is one client connection. Its methods are safe for concurrent use.
type Conn struct {
	srv  *Server  // immutable; never nil
	loop *loop    // epoll transport: the owning loop; immutable; nil for "net"
	nc   *netConn // "net" transport state; immutable; nil for "epoll"

	user atomic.Pointer[any] // SetUserData

	// mu guards the response queue and the connection's state as seen by
	// other goroutines. It is never held across I/O, handler calls or
	// OnDone, nor together with any other lock (a loop's mu included).
	mu struct {
		sync.Mutex

		// closed is set when the connection was torn down: Reply releases
		// its Response at once.
		closed bool
		// closeReq is set by Close; the transport tears the connection down.
		closeReq bool
		// draining is set by Server.Close: no more requests are read.
		draining bool
		// closeErr is the first reason the "net" transport closed the
		// connection (unused by "epoll", which closes on its loop).
		closeErr error
		// inLoop says the transport is working on this connection and will
		// write what is queued before it stops, so Reply need not wake it.
		inLoop bool
		// scheduled says the connection is on its loop's wake list.
		scheduled bool
		// waiting says the "net" reader waits for the queue to shrink.
		waiting bool

		// Requests dispatched have seqs [0, nextSeq). Those below head have
		// their responses queued in out (or written, or skipped); those in
		// [head, nextSeq) sit in ring[seq&(len(ring)-1)], nil until Reply.
		// len(ring) is a power of two >= nextSeq-head, grown on demand.
		nextSeq uint64
		head    uint64
		ring    []*Response

		// out[outHead:] are responses ready to write, in seq order. Only the
		// transport's writer removes them (and nils the slots).
		out     []*Response
		outHead int

		// queued is the bytes replied (in ring or out) and not yet written.
		queued int64
	}

	e epollConn // epoll loop state, touched only by the owning loop
}

// Reply answers request seq with r, or with nothing if r is nil (Kafka's
// acks=0 produce). It may be called from any goroutine, exactly once per seq.
// After Reply the Response belongs to netpoll (see the package doc). Replies
// may come in any order; responses are written in seq order.
func (c *Conn) Reply(seq uint64, r *Response) {
	var size int64
	if r != nil {
		size = r.computeSize()
	}
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		r.release()
		return
	}
	if seq < c.mu.head || seq >= c.mu.nextSeq || c.mu.ring[seq&uint64(len(c.mu.ring)-1)] != nil {
		head, next := c.mu.head, c.mu.nextSeq
		c.mu.Unlock()
		c.srv.log.Error("netpoll: Reply for a seq not awaiting a reply (handler bug); response dropped",
			"remote", c.RemoteAddr(), "seq", seq, "head", head, "next", next)
		r.release()
		return
	}
	if r == nil {
		r = skipResponse
	}
	c.mu.ring[seq&uint64(len(c.mu.ring)-1)] = r
	c.mu.queued += size
	if seq != c.mu.head {
		c.mu.Unlock()
		return
	}
	c.advanceLocked()
	wake := !c.mu.inLoop && !c.mu.scheduled
	if wake && c.loop != nil {
		c.mu.scheduled = true
	}
	c.mu.Unlock()
	if wake {
		c.wake()
	}
}

// advanceLocked moves answered responses at the head of the ring to out.
// c.mu must be held.
func (c *Conn) advanceLocked() {
	mask := uint64(len(c.mu.ring) - 1)
	for c.mu.head < c.mu.nextSeq {
		i := c.mu.head & mask
		r := c.mu.ring[i]
		if r == nil {
			return
		}
		c.mu.ring[i] = nil
		c.mu.head++
		if r != skipResponse {
			c.mu.out = append(c.mu.out, r)
		}
	}
}

// admitLocked reports whether another request may be dispatched under the
// connection's limits and state. c.mu must be held.
func (c *Conn) admitLocked() bool {
	cfg := &c.srv.cfg
	return !c.mu.closeReq && !c.mu.draining &&
		c.mu.nextSeq-c.mu.head < uint64(cfg.MaxInFlight) &&
		c.mu.queued <= int64(cfg.MaxQueuedBytes)
}

// limitsOKLocked reports whether the backpressure limits allow reading.
// c.mu must be held.
func (c *Conn) limitsOKLocked() bool {
	cfg := &c.srv.cfg
	return c.mu.nextSeq-c.mu.head < uint64(cfg.MaxInFlight) &&
		c.mu.queued <= int64(cfg.MaxQueuedBytes)
}

// admit reserves the next seq if a request may be dispatched now, and marks
// the connection inLoop so that synchronous replies are written by the
// transport after the batch without a wakeup.
func (c *Conn) admit() (uint64, bool) {
	c.mu.Lock()
	if !c.admitLocked() {
		c.mu.Unlock()
		return 0, false
	}
	c.mu.inLoop = true
	seq := c.reserveLocked()
	c.mu.Unlock()
	return seq, true
}

// reserveLocked assigns the next seq, growing the ring to hold it.
// c.mu must be held.
func (c *Conn) reserveLocked() uint64 {
	if n := c.mu.nextSeq - c.mu.head; n == uint64(len(c.mu.ring)) {
		size := max(4, 2*len(c.mu.ring))
		ring := make([]*Response, size)
		oldMask, newMask := uint64(len(c.mu.ring)-1), uint64(size-1)
		for s := c.mu.head; s < c.mu.nextSeq; s++ {
			ring[s&newMask] = c.mu.ring[s&oldMask]
		}
		c.mu.ring = ring
	}
	seq := c.mu.nextSeq
	c.mu.nextSeq++
	return seq
}

// idleLocked reports whether no request is in flight and nothing is queued.
// c.mu must be held.
func (c *Conn) idleLocked() bool {
	return c.mu.nextSeq == c.mu.head && c.mu.outHead == len(c.mu.out)
}

// shrinkLocked drops queue storage grown by a burst, once the connection is
// idle, so that idle connections stay small. c.mu must be held.
func (c *Conn) shrinkLocked() {
	if c.mu.nextSeq == c.mu.head && len(c.mu.ring) > 64 {
		c.mu.ring = nil
	}
	if c.mu.outHead == len(c.mu.out) && cap(c.mu.out) > 64 {
		c.mu.out, c.mu.outHead = nil, 0
	}
}

// takeAllLocked marks the connection closed and appends every response it
// still holds to dst, for release after unlocking. c.mu must be held.
func (c *Conn) takeAllLocked(dst []*Response) []*Response {
	c.mu.closed = true
	for i, r := range c.mu.ring {
		if r != nil && r != skipResponse {
			dst = append(dst, r)
		}
		c.mu.ring[i] = nil
	}
	for i := c.mu.outHead; i < len(c.mu.out); i++ {
		dst = append(dst, c.mu.out[i])
		c.mu.out[i] = nil
	}
	c.mu.ring, c.mu.out, c.mu.outHead, c.mu.queued = nil, nil, 0, 0
	return dst
}

// wake tells the transport that the connection needs attention: responses
// became writable, the in-flight count dropped, or Close was called.
func (c *Conn) wake() {
	if c.loop != nil {
		c.loop.schedule(c)
	} else {
		c.nc.wake()
	}
}

// Close closes the connection at once: queued responses are dropped (and
// released) and OnClose follows with ErrConnClosed. It may be called from any
// goroutine, including the handler's; later calls do nothing.
func (c *Conn) Close() {
	c.mu.Lock()
	if c.mu.closed || c.mu.closeReq {
		c.mu.Unlock()
		return
	}
	c.mu.closeReq = true
	wake := !c.mu.inLoop && !c.mu.scheduled
	if wake && c.loop != nil {
		c.mu.scheduled = true
	}
	c.mu.Unlock()
	if c.nc != nil {
		c.nc.fail(c, ErrConnClosed)
		return
	}
	if wake {
		c.wake()
	}
}

// RemoteAddr returns the peer's address. It may allocate: call it once (in
// OnOpen) and keep the result if it is needed per request.
func (c *Conn) RemoteAddr() net.Addr {
	if c.nc != nil {
		return c.nc.conn.RemoteAddr()
	}
	return c.e.remoteAddr()
}

// SetUserData stores v with the connection (client id, SASL state…).
func (c *Conn) SetUserData(v any) {
	c.user.Store(&v)
}

// UserData returns what SetUserData stored, or nil.
func (c *Conn) UserData() any {
	if p := c.user.Load(); p != nil {
		return *p
	}
	return nil
}

// QueuedBytes returns the bytes of responses replied and not yet written.
func (c *Conn) QueuedBytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.queued
}

// InFlight returns the number of requests dispatched whose responses are
// not yet queued for writing.
func (c *Conn) InFlight() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return int(c.mu.nextSeq - c.mu.head)
}
