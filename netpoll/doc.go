// Package netpoll is the broker's network layer: it accepts TCP connections,
// cuts the byte stream into Kafka request frames, hands each frame to a
// Handler, and writes the responses back in request order, with writev for
// buffers and sendfile(2) for file regions.
//
// # Framing
//
// Every Kafka request and response is one frame, a 4-byte big-endian signed
// size followed by that many bytes (the size does not count itself):
//
//	+-----------------+---------------------------------+
//	| size (int32 BE) | request: size bytes             |
//	+-----------------+---------------------------------+
//
// A size that is negative or larger than Config.MaxRequestBytes
// (socket.request.max.bytes) closes the connection with a logged reason
// (ErrFrameSize); other connections are unaffected. netpoll does not look
// inside a frame. Responses are written exactly as given: the caller puts the
// 4-byte size in front of its response itself.
//
// # Transports
//
// Two transports run the same contract:
//
//   - "epoll" (Linux, the default there): Config.Loops event loops, each a
//     goroutine blocked in epoll_wait. Connections are spread round-robin over
//     the loops; there is no goroutine per connection. Each loop owns one
//     shared read buffer (Config.ReadBufferBytes): complete frames inside it
//     are passed to the handler without copying. A partial frame at the end of
//     a read is copied into a pooled per-connection buffer (size classes of
//     powers of two) and, its length being known, the rest of it is read
//     directly into that buffer. A connection whose last frame was at least
//     as large as the loop buffer (a producer sending big batches) reads
//     each size alone and then the frame straight into its own buffer, so
//     no part of it is copied; it returns to the shared buffer after a
//     smaller frame. An idle connection holds no read buffer.
//     Responses that are ready are written by the loop with one writev for
//     consecutive buffers (across responses) and sendfile for file regions;
//     when the socket is full the loop waits for EPOLLOUT. A Reply from
//     another goroutine wakes the loop through its eventfd; a Reply made while
//     the loop is handling the connection (inside OnRequest, typically) is
//     written by the loop right after the batch of frames it is dispatching,
//     without any wakeup.
//     An idle connection costs about 350 bytes of Go heap (a Conn and its
//     peer address; measured by TestManyIdleConns with 10,000 connections)
//     and no goroutine.
//   - "net" (every platform): the net package, with a reader goroutine (bufio)
//     and a writer goroutine per connection. File regions are copied with
//     pread into a pooled buffer. It exists for non-Linux systems and as the
//     baseline that "epoll" is benchmarked against. An idle connection costs
//     about 19 KB of heap (mostly its 16 KiB bufio.Reader) and two goroutines.
//
// Buffers (partial frames, Response.Alloc, pread chunks) come from sync.Pools
// in power-of-two size classes from 512 B to 16 MiB; larger ones are
// allocated exactly and left to the garbage collector. Responses are pooled
// too: in steady state the epoll transport allocates nothing per request.
//
// # Handler contract
//
// OnOpen, OnRequest and OnClose for one connection run on one goroutine (the
// connection's loop, or its reader goroutine), never concurrently, and
// OnRequest is never called after OnClose. OnClose is called exactly once per
// opened connection, with the reason (io.EOF when the peer closed, ErrIdleTimeout,
// ErrFrameSize, ErrConnClosed, ErrServerClosed, or a socket error).
//
// OnRequest receives sequence numbers 0, 1, 2, … per connection. The handler
// must eventually call Reply exactly once for every seq, from any goroutine,
// with a Response or with nil to send nothing (acks=0 produce). Responses are
// written in seq order whatever order Reply is called in. A Reply after the
// connection closed is accepted and its Response released at once. A Reply
// for an unknown or already answered seq is a bug in the caller: it is logged
// and the Response released; it does not corrupt the stream.
//
// OnRequest runs on an event loop shared with other connections: it must not
// block (no fsync, no sleeping, no waiting for other requests). Long waits are
// delayed operations completed later by Reply from another goroutine.
//
// A panic in a Handler method is not recovered: it crashes the process. A
// recovered panic would leave a seq that is never answered, stalling the
// connection forever while looking healthy; a crash is the honest failure for
// a bug in the broker.
//
// # Slice and Response lifetime
//
// The frame passed to OnRequest is valid only during the call: it may alias
// the loop's shared read buffer, which the next read overwrites. Copy what
// must outlive the call.
//
// After Reply(seq, r) the Response belongs to netpoll: the caller must not
// touch it, its Parts, or the bytes they reference until r.OnDone runs, and
// must not pass the same Response to another Reply.
// OnDone, if set, runs exactly once, after the response was fully written or
// when it can no longer be (the connection closed, including a Reply that
// arrives after the close); it may run on any goroutine and must not block.
// File descriptors in Parts must stay open until OnDone. After OnDone the
// Response is recycled: get Responses with GetResponse, and buffers that
// should be recycled with it from Response.Alloc.
//
// # Backpressure and limits
//
// A connection stops being read (its socket is left unread, so TCP flow
// control pushes back on the client) while its queued response bytes exceed
// Config.MaxQueuedBytes or Config.MaxInFlight requests await their turn to be
// written. Reading resumes when both are below their limits. A connection
// with no request in flight and nothing queued is closed after
// Config.IdleTimeout without traffic (connections.max.idle.ms).
//
// A connection whose peer closes (EOF) is closed at once, as Kafka does;
// responses still queued are dropped (and released). An invalid frame size
// and Conn.Close are likewise immediate. While a connection is not being
// read, "epoll" still notices the peer hanging up (EPOLLRDHUP) and closes it;
// "net" notices at its next read or write. Server.Close is graceful: it stops accepting and reading, lets
// the handler answer the requests already dispatched and writes those
// responses, then closes each connection; after Config.DrainTimeout it closes
// whatever remains.
package netpoll
