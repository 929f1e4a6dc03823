package netpoll

import (
	"math/bits"
	"sync"
)

// Part is a piece of a response: a buffer, or a region of a file sent with
// sendfile(2) (copied with pread by the "net" transport).
type Part struct {
	// Buf, when not nil, is written as is; Fd, Off and Len are ignored.
	Buf []byte
	// Fd is an open file whose bytes [Off, Off+Len) are written when Buf is
	// nil and Len > 0. It must stay open until the Response's OnDone. A
	// region that extends past the end of the file closes the connection
	// (ErrShortFile).
	Fd  int
	Off int64
	Len int64
}

// size is the number of bytes p writes.
func (p *Part) size() int64 {
	if p.Buf != nil {
		return int64(len(p.Buf))
	}
	if p.Len > 0 {
		return p.Len
	}
	return 0
}

// Response is one response on a connection, written as its Parts in order.
// The caller includes the 4-byte size prefix in its first buffer.
//
// Responses are pooled: get one with GetResponse, fill it, pass it to
// Conn.Reply, and do not touch it again. netpoll calls OnDone exactly once,
// after the response was fully written or the connection closed, then
// recycles the Response and the buffers from Alloc.
type Response struct {
	Parts []Part

	// OnDone, if set, releases what the Parts reference (file references,
	// pooled buffers). It runs on an event loop or another netpoll goroutine
	// and must not block.
	OnDone func()

	bufs []*buffer // from Alloc, recycled with the Response
	size int64     // total bytes, computed by Reply
}

var responsePool = sync.Pool{New: func() any { return new(Response) }}

// GetResponse returns an empty Response from the pool.
func GetResponse() *Response {
	return responsePool.Get().(*Response)
}

// Alloc returns an empty slice with capacity at least n, from netpoll's
// buffer pool. It is recycled when the Response is done, so it (and any part
// of it placed in Parts) must not be used after Reply. Appending beyond its
// capacity makes append allocate a new array, which is then simply garbage
// collected.
func (r *Response) Alloc(n int) []byte {
	b := getBuffer(n)
	r.bufs = append(r.bufs, b)
	return b.b[:0]
}

// computeSize sets r.size to the bytes r writes.
func (r *Response) computeSize() int64 {
	var n int64
	for i := range r.Parts {
		n += r.Parts[i].size()
	}
	r.size = n
	return n
}

// release runs OnDone and recycles r. Safe to call with r == nil or with
// the skip sentinel.
func (r *Response) release() {
	if r == nil || r == skipResponse {
		return
	}
	if r.OnDone != nil {
		r.OnDone()
	}
	clear(r.Parts)
	r.Parts = r.Parts[:0]
	for i, b := range r.bufs {
		putBuffer(b)
		r.bufs[i] = nil
	}
	r.bufs = r.bufs[:0]
	r.OnDone = nil
	r.size = 0
	responsePool.Put(r)
}

// skipResponse stands in the reorder ring for Reply(seq, nil): the seq is
// answered, nothing is written.
var skipResponse = &Response{}

// buffer is a pooled byte slice; len(b) == cap(b) is its size class. The
// holder struct lets the pool store pointers without allocating on Put.
type buffer struct {
	b []byte
}

// Size classes are powers of two from 512 B to 16 MiB. Larger requests get
// an exact-size buffer that is left to the garbage collector, as are buffers
// of other sizes handed to putBuffer.
const (
	minClassShift = 9
	maxClassShift = 24
	numClasses    = maxClassShift - minClassShift + 1
)

var bufferPools [numClasses]sync.Pool

// classOf returns the size class index for n bytes, or -1 if n is larger
// than the largest class.
func classOf(n int) int {
	if n <= 1<<minClassShift {
		return 0
	}
	shift := bits.Len(uint(n - 1))
	if shift > maxClassShift {
		return -1
	}
	return shift - minClassShift
}

// getBuffer returns a buffer of at least n bytes.
func getBuffer(n int) *buffer {
	c := classOf(n)
	if c < 0 {
		return &buffer{b: make([]byte, n)}
	}
	if v := bufferPools[c].Get(); v != nil {
		return v.(*buffer)
	}
	return &buffer{b: make([]byte, 1<<(c+minClassShift))}
}

// putBuffer returns b to its size class.
func putBuffer(b *buffer) {
	n := len(b.b)
	c := classOf(n)
	if c < 0 || n != 1<<(c+minClassShift) {
		return
	}
	bufferPools[c].Put(b)
}
