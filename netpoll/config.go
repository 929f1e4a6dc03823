package netpoll

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"time"
)

// Transport names for Config.Transport.
const (
	TransportEpoll = "epoll" // Linux epoll event loops; the default on Linux
	TransportNet   = "net"   // the net package; the default elsewhere
)

// Defaults for Config fields left zero.
const (
	DefaultMaxRequestBytes = 100 << 20 // Kafka's socket.request.max.bytes
	DefaultMaxQueuedBytes  = 16 << 20
	DefaultMaxInFlight     = 1024
	DefaultIdleTimeout     = 10 * time.Minute // Kafka's connections.max.idle.ms
	DefaultDrainTimeout    = 5 * time.Second
	DefaultReadBufferBytes = 256 << 10
)

// Config configures a Server. The zero value is valid: every zero field takes
// its default. NewServer works on a copy and never modifies the caller's.
type Config struct {
	// Loops is the number of epoll event loops. Default runtime.GOMAXPROCS(0).
	// Ignored by the "net" transport.
	Loops int

	// MaxRequestBytes is the largest request frame accepted, not counting
	// the 4-byte size (socket.request.max.bytes). A larger or negative size
	// closes the connection with a logged reason. Default 100 MiB; at most
	// math.MaxInt32.
	MaxRequestBytes int

	// MaxQueuedBytes bounds, per connection, the bytes of responses replied
	// but not yet written (buffers and file regions alike). While the queue is
	// larger the connection is not read. Default 16 MiB.
	MaxQueuedBytes int

	// MaxInFlight bounds, per connection, the requests dispatched to the
	// handler whose responses are not yet queued for writing (awaiting Reply,
	// or replied but behind an earlier unanswered request). At the limit the
	// connection is not read. Default 1024: the Java client keeps at most
	// max.in.flight.requests.per.connection=5 requests in flight, librdkafka
	// allows up to max.in.flight=1000000; 1024 keeps a pipelining client at
	// full speed while bounding per-connection state. The reorder ring grows
	// only to the depth actually used (8 bytes per slot) and is dropped when
	// the connection goes idle.
	MaxInFlight int

	// IdleTimeout closes a connection with no request in flight, nothing
	// queued, and no bytes read or written for this long. Default 10 minutes
	// (connections.max.idle.ms); negative disables it.
	IdleTimeout time.Duration

	// DrainTimeout bounds how long Server.Close waits for in-flight requests
	// to be answered and their responses written before closing connections
	// regardless. Default 5 seconds.
	DrainTimeout time.Duration

	// ReadBufferBytes is the size of each epoll loop's shared read buffer,
	// the most read from one socket in one read(2). Default 256 KiB, minimum
	// 4 KiB. Ignored by the "net" transport, which reads through a 16 KiB
	// bufio.Reader per connection.
	ReadBufferBytes int

	// Logger receives connection errors (oversized frames, socket errors,
	// misuse of Reply). Default slog.Default().
	Logger *slog.Logger

	// Transport is TransportEpoll or TransportNet. Default TransportEpoll on
	// Linux, TransportNet elsewhere.
	Transport string
}

// EnsureDefaults fills zero fields with their defaults.
func (c *Config) EnsureDefaults() {
	if c.Loops == 0 {
		c.Loops = runtime.GOMAXPROCS(0)
	}
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if c.MaxQueuedBytes == 0 {
		c.MaxQueuedBytes = DefaultMaxQueuedBytes
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.ReadBufferBytes == 0 {
		c.ReadBufferBytes = DefaultReadBufferBytes
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Transport == "" {
		c.Transport = defaultTransport
	}
}

// Validate reports the first field that is out of range.
func (c *Config) Validate() error {
	switch {
	case c.Loops < 1 || c.Loops > 1024:
		return fmt.Errorf("%w: Loops %d not in [1, 1024]", ErrInvalidConfig, c.Loops)
	case c.MaxRequestBytes < 1 || c.MaxRequestBytes > math.MaxInt32:
		return fmt.Errorf("%w: MaxRequestBytes %d not in [1, %d]", ErrInvalidConfig, c.MaxRequestBytes, math.MaxInt32)
	case c.MaxQueuedBytes < 1:
		return fmt.Errorf("%w: MaxQueuedBytes %d must be positive", ErrInvalidConfig, c.MaxQueuedBytes)
	case c.MaxInFlight < 1 || c.MaxInFlight > 1<<20:
		return fmt.Errorf("%w: MaxInFlight %d not in [1, %d]", ErrInvalidConfig, c.MaxInFlight, 1<<20)
	case c.DrainTimeout < 0:
		return fmt.Errorf("%w: DrainTimeout %v is negative", ErrInvalidConfig, c.DrainTimeout)
	case c.ReadBufferBytes < 4<<10 || c.ReadBufferBytes > 64<<20:
		return fmt.Errorf("%w: ReadBufferBytes %d not in [4 KiB, 64 MiB]", ErrInvalidConfig, c.ReadBufferBytes)
	case c.Transport != TransportEpoll && c.Transport != TransportNet:
		return fmt.Errorf("%w: Transport %q is neither %q nor %q", ErrInvalidConfig, c.Transport, TransportEpoll, TransportNet)
	case c.Transport == TransportEpoll && !epollSupported:
		return fmt.Errorf("%w: Transport %q needs Linux", ErrInvalidConfig, c.Transport)
	}
	return nil
}

var (
	// ErrInvalidConfig is wrapped by NewServer's errors for out-of-range
	// Config fields; the message names the field and its limit.
	ErrInvalidConfig = errors.New("netpoll: invalid config")

	// ErrServerClosed is returned by Serve after Close, and passed to OnClose
	// for connections closed by Close.
	ErrServerClosed = errors.New("netpoll: server closed")

	// ErrFrameSize is passed to OnClose (wrapped, with the size and the
	// limit) when a client sends a frame size that is negative or larger than
	// Config.MaxRequestBytes.
	ErrFrameSize = errors.New("netpoll: invalid frame size")

	// ErrIdleTimeout is passed to OnClose for connections closed after
	// Config.IdleTimeout without traffic.
	ErrIdleTimeout = errors.New("netpoll: connection idle timeout")

	// ErrConnClosed is passed to OnClose for connections closed by
	// Conn.Close.
	ErrConnClosed = errors.New("netpoll: connection closed by handler")

	// ErrShortFile is passed to OnClose (wrapped) when a file region in a
	// response extends past the end of its file: the response can no longer
	// be completed, so the connection's stream is cut.
	ErrShortFile = errors.New("netpoll: file region past end of file")
)
