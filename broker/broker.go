package broker

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/weirhq/weir/coord"
	"github.com/weirhq/weir/log"
	"github.com/weirhq/weir/netpoll"
	"github.com/weirhq/weir/protocol"
)

// Broker is a single-node Kafka-protocol broker.
type Broker struct {
	cfg       Config
	log       *slog.Logger
	clusterID string
	flusher   *log.Flusher

	mu     sync.Mutex // serializes topic creation, deletion and config changes
	topics atomic.Pointer[registry]
	// removing holds the names of deleted topics whose partitions are
	// still being closed and removed; guarded by mu. The name cannot be
	// created again until then (its directories are in the way).
	removing map[string]bool

	srv      *netpoll.Server
	addrMu   sync.Mutex
	host     string
	port     int32
	closed   atomic.Bool
	done     chan struct{}
	bg       sync.WaitGroup
	producer producerIDs
	coord    *coord.Coordinator
	stopBg   context.CancelFunc
	// appenders share the appends of Produce requests to many
	// partitions with the event loops.
	appenders appendWorkers
	sessions  fetchSessions
}

// New opens (or creates) the broker's data directory and every partition
// in it, recovering them. It does not listen; call Serve.
func New(cfg Config) (*Broker, error) {
	cfg.ensureDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	b := &Broker{cfg: cfg, log: cfg.Logger, done: make(chan struct{})}
	b.sessions.slots = cfg.FetchSessionSlots
	b.topics.Store(&registry{byName: map[string]*topic{}, byID: map[[16]byte]*topic{}})
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("broker: data dir: %w", err)
	}
	b.flusher = log.NewFlusher(log.FlusherOptions{RetentionCheckInterval: cfg.RetentionCheckInterval, ReadCacheBytes: max(cfg.ReadCacheBytes, 0), SyncFSMin: cfg.SyncFSMin})
	if err := b.load(); err != nil {
		b.closePartitions()
		b.flusher.Close()
		return nil, err
	}
	if err := b.producer.load(cfg.DataDir); err != nil {
		b.closePartitions()
		b.flusher.Close()
		return nil, err
	}
	if err := b.startCoordinator(); err != nil {
		b.closePartitions()
		b.flusher.Close()
		return nil, fmt.Errorf("broker: group coordinator: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.stopBg = cancel
	b.bg.Add(2)
	go b.housekeeping()
	go func() {
		defer b.bg.Done()
		b.coord.Run(ctx, 100*time.Millisecond)
	}()
	b.appenders.start(runtime.GOMAXPROCS(0)-1, b.done)
	return b, nil
}

func (b *Broker) load() error {
	start := time.Now()
	m, ok, err := loadMeta(b.cfg.DataDir)
	if err != nil {
		return err
	}
	if !ok || m.ClusterID == "" {
		id := newTopicID()
		m.ClusterID = base64.RawURLEncoding.EncodeToString(id[:])
	}
	b.clusterID = m.ClusterID
	var parts int
	for name, tj := range m.Topics {
		var id [16]byte
		if raw, err := hex.DecodeString(tj.ID); err != nil || len(raw) != 16 {
			return fmt.Errorf("broker: topic %q has a bad id %q", name, tj.ID)
		} else {
			copy(id[:], raw)
		}
		cfg, err := b.effectiveConfig(tj.Configs)
		if err != nil {
			b.log.Warn("broker: topic config invalid; using defaults", "topic", name, "err", err)
			cfg, _ = b.effectiveConfig(nil)
		}
		t := &topic{name: name, id: id, cfg: cfg, configs: tj.Configs, internal: len(name) > 1 && name[:2] == "__"}
		for i := int32(0); i < tj.Partitions; i++ {
			p, err := b.openPartition(t, i)
			if err != nil {
				return fmt.Errorf("broker: open %s-%d: %w", name, i, err)
			}
			t.parts = append(t.parts, p)
			parts++
		}
		r := b.reg()
		r.byName[name] = t
		r.byID[id] = t
	}
	b.mu.Lock()
	err = b.saveMetaLocked()
	b.mu.Unlock()
	if err != nil {
		return fmt.Errorf("broker: save metadata: %w", err)
	}
	b.log.Info("broker: loaded data", "dir", b.cfg.DataDir, "topics", len(m.Topics), "partitions", parts, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// openPartition opens (recovering) a partition's log and producer state.
func (b *Broker) openPartition(t *topic, i int32) (*partition, error) {
	p := &partition{index: i, dir: partitionDir(b.cfg.DataDir, t.name, i), hwIsLEO: b.cfg.FlushPolicy == log.FlushInterval}
	p.topic.Store(t)
	opts := b.logOptions(t.cfg)
	opts.DurableHook = func(int64) { p.wake() }
	l, err := log.Open(p.dir, opts)
	if err != nil {
		return nil, err
	}
	p.log = l
	if err := p.loadProducerState(); err != nil {
		l.Close()
		return nil, err
	}
	return p, nil
}

// Serve accepts Kafka connections on ln until Close. The advertised
// address defaults to ln's address.
func (b *Broker) Serve(ln net.Listener) error {
	host, port, err := net.SplitHostPort(ln.Addr().String())
	if err != nil {
		return err
	}
	if b.cfg.AdvertisedAddr != "" {
		if host, port, err = net.SplitHostPort(b.cfg.AdvertisedAddr); err != nil {
			return fmt.Errorf("broker: advertised address: %w", err)
		}
	}
	pn, err := strconv.Atoi(port)
	if err != nil {
		return fmt.Errorf("broker: port %q: %w", port, err)
	}
	srv, err := netpoll.NewServer(b.cfg.Net, b)
	if err != nil {
		return err
	}
	b.addrMu.Lock()
	b.host, b.port = host, int32(pn)
	b.srv = srv
	b.addrMu.Unlock()
	if b.closed.Load() {
		// Close ran before srv was published, or published it and
		// closed it: either way nothing serves ln.
		srv.Close()
		ln.Close()
		return netpoll.ErrServerClosed
	}
	b.log.Info("broker: serving", "listen", ln.Addr().String(), "advertised", net.JoinHostPort(host, port), "transport", srv.Config().Transport)
	return srv.Serve(ln)
}

// ReadCacheDropped returns how many bytes of partition data that consumers
// had fetched the broker has dropped from the page cache so far
// (Config.ReadCacheBytes).
func (b *Broker) ReadCacheDropped() int64 { return b.flusher.ReadCacheDropped() }

// Close stops serving, flushes every partition and closes the logs.
func (b *Broker) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	close(b.done)
	// Answer long-polling fetches now: the server's drain would otherwise
	// wait out each client's max.wait.ms (kgo: 5s).
	b.expireFetches()
	if b.stopBg != nil {
		b.stopBg()
	}
	b.addrMu.Lock()
	srv := b.srv
	b.addrMu.Unlock()
	var errs []error
	if srv != nil {
		errs = append(errs, srv.Close())
	}
	b.bg.Wait()
	b.appenders.wg.Wait()
	errs = append(errs, b.closePartitions(), b.flusher.Close())
	return errors.Join(errs...)
}

func (b *Broker) closePartitions() error {
	var errs []error
	for _, t := range b.reg().byName {
		for _, p := range t.parts {
			errs = append(errs, p.close())
		}
	}
	return errors.Join(errs...)
}

// housekeeping snapshots producer state periodically.
func (b *Broker) housekeeping() {
	defer b.bg.Done()
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-b.done:
			return
		case <-t.C:
			for _, tp := range b.reg().byName {
				for _, p := range tp.parts {
					if err := p.saveProducerSnapshot(); err != nil {
						b.log.Warn("broker: producer snapshot", "dir", p.dir, "err", err)
					}
				}
			}
		}
	}
}

// conn is per-connection state.
type conn struct {
	c          *netpoll.Conn
	ctlMu      sync.Mutex // guards the control queue
	ctlQ       []func()
	ctlRunning bool
	clientID   string // from the last request header
	produce    kmsg.ProduceRequest
	fetchReq   kmsg.FetchRequest
}

// OnOpen implements netpoll.Handler.
func (b *Broker) OnOpen(c *netpoll.Conn) { c.SetUserData(&conn{c: c}) }

// OnClose implements netpoll.Handler.
func (b *Broker) OnClose(c *netpoll.Conn, err error) {
	if err != nil {
		b.log.Debug("connection closed", "remote", c.RemoteAddr(), "err", err)
	}
}

// closeConn answers request seq with nothing and closes the connection,
// logging why (a request that cannot be parsed or served, as Kafka does).
func (b *Broker) closeConn(c *netpoll.Conn, seq uint64, why string, attrs ...any) {
	b.log.Warn("closing connection: "+why, append([]any{"remote", c.RemoteAddr()}, attrs...)...)
	c.Reply(seq, nil)
	c.Close()
}

// decodeInPlace decodes a hot-path request (Produce, Fetch) into the
// connection's reused kmsg request, aliasing body, after checking the
// flexible layout (see protocol.CheckFlexibleProduceFetch).
func decodeInPlace(req interface {
	kmsg.Request
	UnsafeReadFrom([]byte) error
}, h *protocol.RequestHeader, body []byte) error {
	req.SetVersion(h.APIVersion)
	if err := protocol.CheckFlexibleProduceFetch(h.APIKey, h.APIVersion, body); err != nil {
		return err
	}
	return req.UnsafeReadFrom(body)
}

// OnRequest implements netpoll.Handler: it parses the header and
// dispatches by API key.
func (b *Broker) OnRequest(c *netpoll.Conn, seq uint64, frame []byte) {
	h, body, err := protocol.ParseRequestHeader(frame)
	if err != nil {
		b.closeConn(c, seq, "unparseable request header", "err", err)
		return
	}
	cs, _ := c.UserData().(*conn)
	if cs == nil {
		cs = &conn{c: c}
		c.SetUserData(cs)
	}
	if string(h.ClientID) != cs.clientID {
		cs.clientID = string(h.ClientID)
	}
	if h.APIKey == protocol.APIVersionsKey {
		b.handleAPIVersions(cs, seq, &h, body)
		return
	}
	if !supported(h.APIKey, h.APIVersion) {
		b.closeConn(c, seq, "unsupported API version", "api_key", h.APIKey, "api", apiName(h.APIKey),
			"version", h.APIVersion, "client_id", string(h.ClientID))
		return
	}
	switch h.APIKey {
	case 0:
		b.handleProduce(cs, seq, &h, body)
	case 1:
		b.handleFetch(cs, seq, &h, body)
	default:
		b.handleGeneric(cs, seq, &h, body)
	}
}

func apiName(key int16) string {
	if r := kmsg.RequestForKey(key); r != nil {
		return kmsg.NameForKey(key)
	}
	return "unknown"
}

// handleGeneric decodes a control-plane request with kmsg, runs its
// handler and encodes the response. It runs off the event loop, on the
// connection's control queue: handlers may do file I/O and fsync (topic
// creation, offset commits), and one connection's control requests are
// handled one at a time, in order, as Kafka does.
func (b *Broker) handleGeneric(cs *conn, seq uint64, h *protocol.RequestHeader, body []byte) {
	// kmsg aliases []byte fields into its input, and the frame is only
	// valid during this call while handlers (JoinGroup metadata, SyncGroup
	// assignments) keep what they decode: control-plane requests get their
	// own copy.
	body = bytes.Clone(body)
	hc := *h
	hc.ClientID = nil
	cs.control(func() { b.serveControl(cs, seq, &hc, body) })
}

func (b *Broker) serveControl(cs *conn, seq uint64, h *protocol.RequestHeader, body []byte) {
	req := kmsg.RequestForKey(h.APIKey)
	req.SetVersion(h.APIVersion)
	if err := req.ReadFrom(body); err != nil {
		b.closeConn(cs.c, seq, "malformed request", "api", apiName(h.APIKey), "version", h.APIVersion, "err", err)
		return
	}
	if afn := asyncHandlers[h.APIKey]; afn != nil {
		afn(b, cs, req, func(resp kmsg.Response) { b.reply(cs, seq, h, resp) })
		return
	}
	fn := handlers[h.APIKey]
	if fn == nil {
		cs.c.Reply(seq, nil)
		cs.c.Close()
		return
	}
	resp := fn(b, cs, req)
	if resp == nil {
		cs.c.Reply(seq, nil)
		return
	}
	b.reply(cs, seq, h, resp)
}

// control runs f after the connection's earlier control requests, on a
// goroutine that exists only while the queue is not empty.
func (cs *conn) control(f func()) {
	cs.ctlMu.Lock()
	cs.ctlQ = append(cs.ctlQ, f)
	if cs.ctlRunning {
		cs.ctlMu.Unlock()
		return
	}
	cs.ctlRunning = true
	cs.ctlMu.Unlock()
	go func() {
		for {
			cs.ctlMu.Lock()
			if len(cs.ctlQ) == 0 {
				cs.ctlRunning = false
				cs.ctlQ = nil
				cs.ctlMu.Unlock()
				return
			}
			f := cs.ctlQ[0]
			cs.ctlQ[0] = nil
			cs.ctlQ = cs.ctlQ[1:]
			cs.ctlMu.Unlock()
			f()
		}
	}()
}

// reply encodes a kmsg response and sends it.
func (b *Broker) reply(cs *conn, seq uint64, h *protocol.RequestHeader, resp kmsg.Response) {
	resp.SetVersion(h.APIVersion)
	buf := protocol.AppendResponseHeader(nil, h.APIKey, h.APIVersion, h.CorrelationID)
	buf = resp.AppendTo(buf)
	protocol.SetFrameSize(buf, len(buf)-4)
	r := netpoll.GetResponse()
	r.Parts = append(r.Parts[:0], netpoll.Part{Buf: buf})
	cs.c.Reply(seq, r)
}

// handlers are the control-plane request handlers by API key; each
// returns the response (nil: none).
var handlers [protocol.MaxKey + 1]func(b *Broker, cs *conn, req kmsg.Request) kmsg.Response

func register(key int16, min, max int16, fn func(b *Broker, cs *conn, req kmsg.Request) kmsg.Response) {
	handlers[key] = fn
	versions[key] = versionRange{min, max, true}
}

// asyncHandlers answer later through respond (exactly once).
var asyncHandlers [protocol.MaxKey + 1]func(b *Broker, cs *conn, req kmsg.Request, respond func(kmsg.Response))

func registerAsync(key int16, min, max int16, fn func(b *Broker, cs *conn, req kmsg.Request, respond func(kmsg.Response))) {
	asyncHandlers[key] = fn
	versions[key] = versionRange{min, max, true}
}

type versionRange struct {
	min, max int16
	ok       bool
}

// versions are the advertised (implemented and tested) version ranges.
var versions [protocol.MaxKey + 1]versionRange

func supported(key, version int16) bool {
	if key < 0 || key > protocol.MaxKey {
		return false
	}
	v := versions[key]
	return v.ok && version >= v.min && version <= v.max
}

// errCode maps an error to a Kafka error code.
func errCode(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	return kerr.UnknownServerError.Code
}

func ptrStr(s string) *string { return &s }

// errMsg returns a message for a response's error_message field: the
// detail after the Kafka error's own name and description, as Kafka sends.
func errMsg(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	var ke *kerr.Error
	if errors.As(err, &ke) {
		s = strings.TrimPrefix(s, ke.Error()+": ")
	}
	return &s
}

// advertised returns the advertised host and port.
func (b *Broker) advertised() (string, int32) {
	b.addrMu.Lock()
	defer b.addrMu.Unlock()
	return b.host, b.port
}
