//go:build !linux

package netpoll

import (
	"errors"
	"net"
)

const (
	epollSupported   = false
	defaultTransport = TransportNet
)

// epollConn and loop exist only on Linux.
type epollConn struct{}

func (e *epollConn) remoteAddr() net.Addr { return nil }

type loop struct{}

func (l *loop) schedule(*Conn) {}

func newEpollTransport(*Server, net.Listener) (transport, error) {
	return nil, errors.New("netpoll: the epoll transport needs Linux")
}
