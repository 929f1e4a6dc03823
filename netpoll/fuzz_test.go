package netpoll

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// FuzzFraming writes arbitrary bytes, in arbitrary pieces, to an echo
// server on every transport. The responses must be the echo of the complete
// frames that precede the first invalid size, in order: all of them if the
// stream has no invalid size, a prefix of them otherwise (the connection is
// closed at once, possibly before earlier responses were written).
func FuzzFraming(f *testing.F) {
	f.Add([]byte{0, 0, 0, 3, 'a', 'b', 'c', 0, 0, 0, 0}, uint8(1))
	f.Add(append(appendFrame(nil, []byte("x")), 0xff, 0xff, 0xff, 0xff), uint8(3))
	f.Add(appendFrame(appendFrame(nil, bytes.Repeat([]byte{7}, 300)), []byte("tail")), uint8(0))
	f.Add([]byte{0, 0, 0}, uint8(2))
	f.Add([]byte{0, 0x10, 0, 1, 1, 2}, uint8(5))
	f.Add([]byte{0x80, 0, 0, 0}, uint8(9))

	const limit = 1 << 20
	servers := map[string]*testServer{}
	for _, tr := range transports() {
		servers[tr] = startServer(f, tr, Config{MaxRequestBytes: limit, ReadBufferBytes: 4096}, echoHandler())
	}
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		// The reference: echo every complete frame before the first
		// invalid size.
		var want []byte
		valid := true
		for p := in; ; {
			if len(p) < 4 {
				break
			}
			size := int32(binary.BigEndian.Uint32(p))
			if size < 0 || size > limit {
				valid = false
				break
			}
			if len(p)-4 < int(size) {
				break
			}
			want = append(want, p[:4+size]...)
			p = p[4+size:]
		}
		for tr, ts := range servers {
			c, err := net.Dial("tcp", ts.addr)
			if err != nil {
				t.Fatal(err)
			}
			go writeChunked(c, in, int(chunk)+1, func(n int) int { return n - 1 })
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			got := make([]byte, len(want))
			n, err := io.ReadFull(c, got)
			c.(*net.TCPConn).SetLinger(0) // no TIME_WAIT left behind per input
			c.Close()
			switch {
			case !bytes.Equal(got[:n], want[:n]):
				t.Fatalf("%s: responses differ from the echo of the frames", tr)
			case n < len(want) && valid:
				t.Fatalf("%s: %d of %d response bytes: %v", tr, n, len(want), err)
			}
		}
	})
}
