package netpoll

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Handler processes requests. OnOpen, OnRequest and OnClose for one
// connection run on that connection's event-loop goroutine, one at a time.
//
// OnRequest receives one complete frame without its 4-byte size; the frame
// is valid only during the call (it may alias a loop buffer). The handler
// must eventually call c.Reply(seq, resp) exactly once for each seq, from any
// goroutine, or c.Reply(seq, nil) to send nothing for that request (Kafka's
// acks=0 produce). Responses are written in seq order per connection even
// when replies arrive out of order. OnRequest must not block for long (no
// waiting on fsync or timers): long waits are delayed operations completed
// from other goroutines.
//
// OnClose is called exactly once per connection that was opened, with the
// reason it closed; OnRequest is not called after it. Panics are not
// recovered (see the package doc).
type Handler interface {
	OnOpen(c *Conn)
	OnRequest(c *Conn, seq uint64, frame []byte)
	OnClose(c *Conn, err error)
}

// transport is one way of running the connections: epoll loops or net.
type transport interface {
	// run serves until shutdown has completed and every connection is
	// closed.
	run() error
	// shutdown starts the graceful close; it does not wait.
	shutdown()
}

// Server accepts connections and runs them on a transport.
type Server struct {
	cfg   Config  // immutable, defaulted and validated
	h     Handler // immutable
	log   *slog.Logger
	epoch time.Time // origin of now()

	// drainDeadline is the now() after which Close stops waiting; set
	// before the transport's shutdown is called.
	drainDeadline atomic.Int64

	done chan struct{} // closed when Serve has finished

	mu struct {
		sync.Mutex
		state int // stateNew, stateServing, stateClosed
		tr    transport
	}
}

const (
	stateNew = iota
	stateServing
	stateClosed
)

// NewServer checks cfg (filling defaults in a copy) and returns a Server
// that calls h. Nothing is opened until Serve.
func NewServer(cfg Config, h Handler) (*Server, error) {
	if h == nil {
		return nil, errors.New("netpoll: nil Handler")
	}
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Server{
		cfg:   cfg,
		h:     h,
		log:   cfg.Logger,
		epoch: time.Now(),
		done:  make(chan struct{}),
	}, nil
}

// Config returns the server's configuration with defaults filled in.
func (s *Server) Config() Config { return s.cfg }

// Serve accepts connections on ln until Close, then returns ErrServerClosed
// once every connection is closed. Serve takes ownership of ln and closes it:
// stop the server with Close, not by closing ln. The epoll transport needs a
// listener with a file descriptor (*net.TCPListener, *net.UnixListener); it
// duplicates it and accepts on it from its first event loop.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	switch s.mu.state {
	case stateClosed:
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	case stateServing:
		s.mu.Unlock()
		return errors.New("netpoll: Serve called twice")
	}
	var tr transport
	var err error
	if s.cfg.Transport == TransportEpoll {
		tr, err = newEpollTransport(s, ln)
	} else {
		tr = newNetTransport(s, ln)
	}
	if err != nil {
		s.mu.Unlock()
		ln.Close()
		return err
	}
	s.mu.state = stateServing
	s.mu.tr = tr
	s.mu.Unlock()

	err = tr.run()
	ln.Close()
	close(s.done)
	return err
}

// Close stops accepting, stops reading requests, waits up to
// Config.DrainTimeout for the requests already dispatched to be answered and
// their responses written, closes every connection (OnClose with
// ErrServerClosed), and returns when Serve has finished. Close before Serve
// makes Serve return ErrServerClosed at once. Close may be called more than
// once; every call waits.
func (s *Server) Close() error {
	s.mu.Lock()
	prev, tr := s.mu.state, s.mu.tr
	s.mu.state = stateClosed
	s.mu.Unlock()
	switch {
	case prev == stateServing:
		s.drainDeadline.Store(s.now() + int64(s.cfg.DrainTimeout))
		tr.shutdown()
		<-s.done
	case tr != nil: // closed before, by another call
		<-s.done
	}
	return nil
}

// now is a monotonic clock in nanoseconds since the server was created.
func (s *Server) now() int64 { return int64(time.Since(s.epoch)) }

// sweepInterval is how often idle connections are looked for.
func (s *Server) sweepInterval() time.Duration {
	return min(max(s.cfg.IdleTimeout/8, 5*time.Millisecond), time.Second)
}

// logClose logs why a connection closed: at Warn for protocol violations
// and broken responses, at Debug for ordinary ends.
func (s *Server) logClose(c *Conn, err error) {
	switch {
	case errors.Is(err, ErrFrameSize), errors.Is(err, ErrShortFile):
		s.log.Warn("netpoll: closing connection", "remote", c.RemoteAddr(), "reason", err)
	case s.log.Enabled(context.Background(), slog.LevelDebug):
		if err == io.EOF {
			err = errors.New("peer closed")
		}
		s.log.Debug("netpoll: connection closed", "remote", c.RemoteAddr(), "reason", err)
	}
}
