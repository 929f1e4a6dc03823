package goclients

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// tracer is a TCP proxy in front of the broker that counts the requests
// passing through by API key and version (the broker advertises the
// proxy's address, so every connection goes through it).
type tracer struct {
	addr   string
	target string // set once the broker listens, before clients start

	mu     sync.Mutex
	counts map[[2]int16]int
}

func startTracer(t *testing.T) *tracer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("tracer: listen: %v", err)
	}
	tr := &tracer{addr: ln.Addr().String(), counts: map[[2]int16]int{}}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go tr.serve(c)
		}
	}()
	return tr
}

func (tr *tracer) serve(c net.Conn) {
	defer c.Close()
	s, err := net.Dial("tcp", tr.target)
	if err != nil {
		return
	}
	defer s.Close()
	go func() {
		io.Copy(c, s)
		c.Close()
	}()
	var hdr [8]byte // size, api key, api version
	for {
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return
		}
		n := int64(binary.BigEndian.Uint32(hdr[:4]))
		key, ver := int16(binary.BigEndian.Uint16(hdr[4:])), int16(binary.BigEndian.Uint16(hdr[6:]))
		tr.mu.Lock()
		tr.counts[[2]int16{key, ver}]++
		tr.mu.Unlock()
		if _, err := s.Write(hdr[:]); err != nil {
			return
		}
		if _, err := io.CopyN(s, c, n-4); err != nil {
			return
		}
	}
}

func (tr *tracer) summary() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	keys := make([][2]int16, 0, len(tr.counts))
	for k := range tr.counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]int16) int {
		if a[0] != b[0] {
			return int(a[0]) - int(b[0])
		}
		return int(a[1]) - int(b[1])
	})
	var out []string
	for _, k := range keys {
		out = append(out, fmt.Sprintf("%s(%d) v%d: %d", kmsg.NameForKey(k[0]), k[0], k[1], tr.counts[k]))
	}
	return strings.Join(out, ", ")
}
