// Package weirtest starts a real Weir broker inside a Go test: no Docker,
// no fake. The broker listens on an ephemeral loopback port, keeps its data
// in the test's temporary directory, and is closed when the test ends.
//
//	func TestMyConsumer(t *testing.T) {
//		b := weirtest.Start(t)
//		cl, _ := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
//		...
//	}
package weirtest

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/weirhq/weir/broker"
	"github.com/weirhq/weir/netpoll"
)

// Broker is a running test broker.
type Broker struct {
	*broker.Broker
	addr    string
	dataDir string
	t       testing.TB
	cfg     broker.Config
	ln      net.Listener
	done    chan error
}

// Option changes the broker's config.
type Option func(*broker.Config)

// WithConfig applies fn to the broker config before it starts.
func WithConfig(fn func(*broker.Config)) Option { return Option(fn) }

// Start starts a broker for the test and registers its shutdown with
// t.Cleanup. Logs are discarded unless the test runs with -v.
func Start(t testing.TB, opts ...Option) *Broker {
	t.Helper()
	cfg := broker.Config{DataDir: t.TempDir()}
	if !testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	for _, o := range opts {
		o(&cfg)
	}
	b := &Broker{t: t, cfg: cfg, dataDir: cfg.DataDir}
	b.start()
	t.Cleanup(func() { b.Stop() })
	return b
}

func (b *Broker) start() {
	b.t.Helper()
	host := "127.0.0.1:0"
	if b.addr != "" {
		host = b.addr // restart on the same port
	}
	ln, err := net.Listen("tcp", host)
	if err != nil {
		b.t.Fatalf("weirtest: listen: %v", err)
	}
	br, err := broker.New(b.cfg)
	if err != nil {
		ln.Close()
		b.t.Fatalf("weirtest: start broker: %v", err)
	}
	b.Broker, b.ln, b.addr = br, ln, ln.Addr().String()
	b.done = make(chan error, 1)
	go func() { b.done <- br.Serve(ln) }()
}

// Addr returns the bootstrap address (host:port).
func (b *Broker) Addr() string { return b.addr }

// DataDir returns the broker's data directory.
func (b *Broker) DataDir() string { return b.dataDir }

// Stop closes the broker cleanly (flushing every partition). It is safe to
// call more than once.
func (b *Broker) Stop() {
	if b.Broker == nil {
		return
	}
	err := b.Broker.Close()
	if serr := <-b.done; serr != nil && err == nil && !errors.Is(serr, net.ErrClosed) && !errors.Is(serr, netpoll.ErrServerClosed) {
		err = serr
	}
	b.Broker = nil
	if err != nil {
		b.t.Errorf("weirtest: stop broker: %v", err)
	}
}

// Restart stops the broker and starts it again on the same address and
// data directory, recovering every partition.
func (b *Broker) Restart() {
	b.t.Helper()
	b.Stop()
	b.start()
}
