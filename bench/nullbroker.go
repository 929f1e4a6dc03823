package bench

// The null broker: a benchmark ceiling.
//
// It speaks just enough of the Kafka protocol for franz-go to create
// topics, produce and consume, and does as little as it can: produced
// records are counted and dropped, and every fetch is answered at once with
// copies of one record batch built at startup. Whatever rate the load
// generator reaches against it is what the load generator itself can drive
// on this machine, so a report can say how close a real broker came.
//
// # APIs and versions
//
// ApiVersions advertises exactly these (nullVersionRange), all tested with
// franz-go at both ends of each range (see TestNullVersions):
//
//	key  API             versions  notes
//	  0  Produce         3-13      v13 names topics by id
//	  1  Fetch           4-18      v13+ names topics by id; no sessions
//	  2  ListOffsets     1-11
//	  3  Metadata        0-13      v10+ carries topic ids
//	 18  ApiVersions     0-4       above 4: a v0 answer, UNSUPPORTED_VERSION
//	 19  CreateTopics    2-7
//	 20  DeleteTopics    1-6
//	 22  InitProducerId  0-5       no transactions
//
// The ranges match Weir's broker where they overlap, so that franz-go uses
// the same request versions against both. Any other key, or a version
// outside its range (except ApiVersions, as Kafka does), closes the
// connection; so does a frame that is larger than 100 MiB or that does not
// parse. Groups and transactions are not implemented (FindCoordinator is not
// advertised, so franz-go does not ask).
//
// # Behaviour
//
//   - One broker, node 0, leads every partition (leader epoch 0). Metadata
//     creates an unknown topic with one partition when the request allows
//     auto-creation (always before v4).
//   - Produce assigns each partition's batches consecutive offsets from a
//     per-partition counter, reading only the batch headers (length, magic
//     and lastOffsetDelta), and drops the data. acks=0 gets no response, as
//     in Kafka. Idempotent producers work (InitProducerId hands out
//     increasing ids), but sequence numbers are not checked.
//   - Fetch answers at once (data always exists, so MinBytes and MaxWait do
//     not matter) with copies of the canned batch, the first one at the
//     fetch offset, as many as fit in the partition's and the response's
//     max bytes (at least one for the first partition, as KIP-74 asks). The
//     high watermark is always nullAhead past the fetch offset. What was
//     produced is never returned.
//   - ListOffsets: earliest (and by timestamp) 0; latest the partition's
//     produce counter.
//
// Each connection has its own goroutine, which reads a request, answers it
// and only then reads the next, so responses are in request order. Buffers
// and the Produce and Fetch request and response structs are reused per
// connection; nothing is allocated per record.

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirhq/weir/batch"
)

// nullStamp is the stamp (see recordHeader) of every record the null broker
// serves: math.MinInt64 means "no send time", so the consumer counts the
// record but takes no latency from it (the records were never produced).
const nullStamp = math.MinInt64

const (
	// nullBatchRecords and nullValueBytes shape the canned batch: 64
	// records of 1 KiB values, uncompressed (about 66 KiB).
	nullBatchRecords = 64
	nullValueBytes   = 1024

	// nullMaxFrame is the largest request accepted (Kafka's
	// socket.request.max.bytes); a larger size prefix closes the
	// connection.
	nullMaxFrame = 100 << 20
	// nullMaxFetch caps the records in one Fetch response, whatever the
	// client's max bytes, so a request cannot make a connection hold
	// more than this.
	nullMaxFetch = 64 << 20
	// nullKeepBuffer is the largest buffer a connection keeps between
	// requests; a larger one (grown for one huge request) is dropped. It
	// is above nullMaxFetch plus append's growth, so that every fetch the
	// null broker answers (max-throughput asks for 32 MiB) reuses its
	// connection's buffers.
	nullKeepBuffer = nullMaxFetch * 3 / 2
	// nullAhead is how far the high watermark is past every fetch
	// offset: the client always sees more data.
	nullAhead = 1 << 40
	// nullMaxOffset bounds fetch offsets so offset+nullAhead and the
	// batch offsets cannot overflow.
	nullMaxOffset = 1 << 62
	// nullMaxPartitions bounds the partitions of all topics together, so
	// that requests cannot make the broker allocate without limit (or
	// Metadata answers grow without limit).
	nullMaxPartitions = 100_000

	// nullClusterID is the cluster id Metadata reports.
	nullClusterID = "weir-null"
	// nullNodeID is the only broker's node id.
	nullNodeID = 0
)

// API keys the null broker implements.
const (
	nullKeyProduce        = 0
	nullKeyFetch          = 1
	nullKeyListOffsets    = 2
	nullKeyMetadata       = 3
	nullKeyAPIVersions    = 18
	nullKeyCreateTopics   = 19
	nullKeyDeleteTopics   = 20
	nullKeyInitProducerID = 22
)

// nullKeys lists the implemented keys in ApiVersions order.
var nullKeys = [...]int16{
	nullKeyProduce, nullKeyFetch, nullKeyListOffsets, nullKeyMetadata,
	nullKeyAPIVersions, nullKeyCreateTopics, nullKeyDeleteTopics, nullKeyInitProducerID,
}

// nullVersionRange returns the versions of key the null broker advertises,
// and false for a key it does not implement.
func nullVersionRange(key int16) (lo, hi int16, ok bool) {
	switch key {
	case nullKeyProduce:
		return 3, 13, true // v3: the first with v2 batches
	case nullKeyFetch:
		return 4, 18, true
	case nullKeyListOffsets:
		return 1, 11, true
	case nullKeyMetadata:
		return 0, 13, true
	case nullKeyAPIVersions:
		return 0, 4, true
	case nullKeyCreateTopics:
		return 2, 7, true
	case nullKeyDeleteTopics:
		return 1, 6, true
	case nullKeyInitProducerID:
		return 0, 5, true
	}
	return 0, 0, false
}

// Reasons a connection is closed. They never leave the package: the
// client sees only the closed connection.
var (
	errNullFrame   = errors.New("bench: null broker: bad frame size")
	errNullHeader  = errors.New("bench: null broker: malformed request header")
	errNullKey     = errors.New("bench: null broker: API key or version not advertised")
	errNullRequest = errors.New("bench: null broker: malformed request")
	errNullAcks0   = errors.New("bench: null broker: acks=0 produce failed")
)

// ServeNull runs the null broker on addr (host:port) until ctx ends. It
// returns nil when ctx ends, or the error that stopped it from listening.
// Like ServeKfake, it is meant to run in a child process, so that it
// competes for the CPU with the load generator as a real broker does and
// its CPU time and memory are measured the same way.
func ServeNull(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("bench: null broker: %w", err)
	}
	nb, err := newNullBroker(ln)
	if err != nil {
		ln.Close()
		return err
	}
	return nb.serve(ctx)
}

// nullBroker is the null broker's state; see the top of this file.
type nullBroker struct {
	ln   net.Listener // immutable
	host string       // advertised host; immutable
	port int32        // advertised port; immutable

	// canned is the batch every fetch returns copies of, baseOffset 0;
	// read-only once built.
	canned []byte
	// replicas is Metadata's replica and ISR list, [nullNodeID];
	// read-only.
	replicas []int32

	// topics is the current topic set. It is replaced, never changed
	// (copy on write), so requests read it without a lock.
	topics atomic.Pointer[nullTopics]
	// mu serializes the writers of topics (create, auto-create, delete)
	// and guards partitions.
	mu         sync.Mutex
	partitions int // in all topics

	producerIDs atomic.Int64 // last producer id handed out

	conns struct {
		sync.Mutex
		m      map[net.Conn]struct{}
		closed bool // no new connections are served
	}
	wg sync.WaitGroup // connection goroutines
}

// nullTopics is an immutable topic set.
type nullTopics struct {
	byName map[string]*nullTopic
	byID   map[[16]byte]*nullTopic
}

type nullTopic struct {
	name  string   // immutable
	id    [16]byte // immutable; never zero
	parts []nullPartition
}

// nullPartition is padded to a cache line so that producers to different
// partitions do not share one.
type nullPartition struct {
	next atomic.Int64 // the offset the next produced record gets
	_    [56]byte
}

// newNullBroker returns a null broker that will serve ln. The advertised
// address is ln's, with 127.0.0.1 for an unspecified host.
func newNullBroker(ln net.Listener) (*nullBroker, error) {
	host, portStr, err := net.SplitHostPort(ln.Addr().String())
	if err != nil {
		return nil, fmt.Errorf("bench: null broker: address: %w", err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("bench: null broker: port: %w", err)
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	canned, err := nullCannedBatch(time.Now().UnixMilli())
	if err != nil {
		return nil, err
	}
	nb := &nullBroker{
		ln:       ln,
		host:     host,
		port:     int32(port),
		canned:   canned,
		replicas: []int32{nullNodeID},
	}
	nb.topics.Store(&nullTopics{byName: map[string]*nullTopic{}, byID: map[[16]byte]*nullTopic{}})
	nb.conns.m = make(map[net.Conn]struct{})
	return nb, nil
}

// nullCannedBatch builds the batch fetches return: nullBatchRecords records
// with no key, each value nullValueBytes long and starting with nullStamp
// and the record's index (the header load.go reads), then filler.
func nullCannedBatch(ts int64) ([]byte, error) {
	b, err := batch.NewBuilder(nil)
	if err != nil {
		return nil, fmt.Errorf("bench: null broker: %w", err)
	}
	v := make([]byte, nullValueBytes)
	for i := recordHeader; i < len(v); i++ {
		v[i] = byte(i)
	}
	stamp := int64(nullStamp)
	for i := range nullBatchRecords {
		binary.LittleEndian.PutUint64(v[0:], uint64(stamp))
		binary.LittleEndian.PutUint64(v[8:], uint64(i))
		if err := b.Append(nil, v, nil, ts); err != nil {
			return nil, fmt.Errorf("bench: null broker: canned batch: %w", err)
		}
	}
	return b.AppendTo(nil), nil
}

// serve accepts connections until ctx ends, then closes the listener and
// every connection and waits for their goroutines.
func (nb *nullBroker) serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { nb.ln.Close() })
	defer stop()
	var err error
	var delay time.Duration // after a temporary accept error
	for {
		var nc net.Conn
		nc, err = nb.ln.Accept()
		if te, ok := err.(interface{ Temporary() bool }); ok && te.Temporary() && ctx.Err() == nil {
			// Out of file descriptors, say (the CONNS workload opens
			// thousands): wait and retry, as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			time.Sleep(delay)
			continue
		}
		if err != nil {
			break
		}
		delay = 0
		if tc, ok := nc.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
		}
		nb.conns.Lock()
		if nb.conns.closed {
			nb.conns.Unlock()
			nc.Close()
			continue
		}
		nb.conns.m[nc] = struct{}{}
		nb.wg.Add(1)
		nb.conns.Unlock()
		go nb.serveConn(nc)
	}
	nb.ln.Close()
	nb.conns.Lock()
	nb.conns.closed = true
	for nc := range nb.conns.m {
		nc.Close()
	}
	nb.conns.Unlock()
	nb.wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("bench: null broker: accept: %w", err)
}

func (nb *nullBroker) serveConn(nc net.Conn) {
	defer func() {
		nc.Close()
		nb.conns.Lock()
		delete(nb.conns.m, nc)
		nb.conns.Unlock()
		nb.wg.Done()
	}()
	c := &nullConn{nb: nb, nc: nc, buf: make([]byte, 4096)}
	for {
		if err := c.fill(4); err != nil {
			return
		}
		size := int32(binary.BigEndian.Uint32(c.buf[c.r:]))
		if size < 0 || size > nullMaxFrame {
			return // errNullFrame
		}
		n := 4 + int(size)
		if err := c.fill(n); err != nil {
			return
		}
		frame := c.buf[c.r+4 : c.r+n]
		c.r += n
		resp, err := c.handle(frame)
		if err != nil {
			return
		}
		if resp != nil {
			if _, err := nc.Write(resp); err != nil {
				return
			}
		}
		if c.r == c.w {
			c.r, c.w = 0, 0
			if len(c.buf) > nullKeepBuffer {
				c.buf = make([]byte, 4096)
			}
		}
		if cap(c.out) > nullKeepBuffer {
			c.out = nil
		}
		if cap(c.recs) > nullKeepBuffer {
			c.recs, c.copies = nil, 0
		}
	}
}

// nullConn is one connection's state, used only by its goroutine.
type nullConn struct {
	nb *nullBroker
	nc net.Conn

	// buf[r:w] holds bytes read but not yet consumed; frames alias buf
	// until the next fill.
	buf  []byte
	r, w int

	out []byte // the response being written

	// recs holds copies of the canned batch, back to back; the first
	// copies of them have been made. Fetch responses alias recs, each
	// partition its own run of copies with patched base offsets.
	recs   []byte
	copies int

	// Reused hot-path messages. Their strings alias the request frame
	// (UnsafeReadFrom), valid until the response is written.
	produce     kmsg.ProduceRequest
	produceResp kmsg.ProduceResponse
	fetch       kmsg.FetchRequest
	fetchResp   kmsg.FetchResponse
	runs        []int // fetch: number of canned copies per answered partition
}

// fill reads until buf[r:] holds at least n bytes, growing buf if needed.
func (c *nullConn) fill(n int) error {
	if c.w-c.r >= n {
		return nil
	}
	if c.r+n > len(c.buf) {
		if n > len(c.buf) {
			nb := make([]byte, max(n, min(2*len(c.buf), nullMaxFrame+4)))
			c.w = copy(nb, c.buf[c.r:c.w])
			c.buf = nb
		} else {
			c.w = copy(c.buf, c.buf[c.r:c.w])
		}
		c.r = 0
	}
	for c.w-c.r < n {
		m, err := c.nc.Read(c.buf[c.w:])
		c.w += m
		if err != nil && c.w-c.r < n {
			return err
		}
	}
	return nil
}

// handle answers one request frame (without its size prefix). It returns
// the whole response frame, nil for no response (acks=0), or an error that
// means the connection must be closed. The response aliases c.out.
func (c *nullConn) handle(frame []byte) ([]byte, error) {
	if len(frame) < 10 {
		return nil, errNullHeader
	}
	key := int16(binary.BigEndian.Uint16(frame))
	version := int16(binary.BigEndian.Uint16(frame[2:]))
	corr := binary.BigEndian.Uint32(frame[4:])
	if key == nullKeyAPIVersions {
		return c.handleAPIVersions(frame, version, corr)
	}
	lo, hi, ok := nullVersionRange(key)
	if !ok || version < lo || version > hi {
		return nil, errNullKey
	}

	var req kmsg.Request
	switch key {
	case nullKeyProduce:
		req = &c.produce
	case nullKeyFetch:
		req = &c.fetch
	default:
		req = kmsg.RequestForKey(key)
	}
	req.SetVersion(version)
	body, err := nullSkipHeader(frame, req.IsFlexible())
	if err != nil {
		return nil, err
	}

	var resp kmsg.Response
	switch r := req.(type) {
	case *kmsg.ProduceRequest:
		if err := r.UnsafeReadFrom(body); err != nil {
			return nil, errNullRequest
		}
		resp, err = c.handleProduce(r)
		if err != nil || resp == nil {
			return nil, err
		}
	case *kmsg.FetchRequest:
		if err := r.UnsafeReadFrom(body); err != nil {
			return nil, errNullRequest
		}
		resp = c.handleFetch(r)
	default:
		if err := req.ReadFrom(body); err != nil {
			return nil, errNullRequest
		}
		switch r := req.(type) {
		case *kmsg.ListOffsetsRequest:
			resp = c.nb.handleListOffsets(r)
		case *kmsg.MetadataRequest:
			resp = c.nb.handleMetadata(r)
		case *kmsg.CreateTopicsRequest:
			resp = c.nb.handleCreateTopics(r)
		case *kmsg.DeleteTopicsRequest:
			resp = c.nb.handleDeleteTopics(r)
		case *kmsg.InitProducerIDRequest:
			resp = c.nb.handleInitProducerID(r)
		default:
			return nil, errNullKey // unreachable: nullVersionRange lists the keys above
		}
	}
	return c.appendResponse(corr, req.IsFlexible(), resp), nil
}

// appendResponse encodes resp with its size prefix and header into c.out:
// the correlation id, then an empty tag section if flexible (never for
// ApiVersions, whose callers pass false).
func (c *nullConn) appendResponse(corr uint32, flexible bool, resp kmsg.Response) []byte {
	out := append(c.out[:0], 0, 0, 0, 0)
	out = binary.BigEndian.AppendUint32(out, corr)
	if flexible {
		out = append(out, 0)
	}
	out = resp.AppendTo(out)
	binary.BigEndian.PutUint32(out, uint32(len(out)-4))
	c.out = out
	return out
}

// nullSkipHeader returns the request body after the header: key, version,
// correlation id, nullable client id and, for flexible versions, tags.
func nullSkipHeader(frame []byte, flexible bool) ([]byte, error) {
	n := int16(binary.BigEndian.Uint16(frame[8:]))
	b := frame[10:]
	if n > 0 {
		if int(n) > len(b) {
			return nil, errNullHeader
		}
		b = b[n:]
	}
	if !flexible {
		return b, nil
	}
	tags, k := binary.Uvarint(b)
	if k <= 0 {
		return nil, errNullHeader
	}
	b = b[k:]
	for range tags {
		if _, k = binary.Uvarint(b); k <= 0 { // tag number
			return nil, errNullHeader
		}
		b = b[k:]
		size, k := binary.Uvarint(b)
		if k <= 0 || size > uint64(len(b)-k) {
			return nil, errNullHeader
		}
		b = b[k+int(size):]
	}
	return b, nil
}

// handleAPIVersions answers ApiVersions. A version above ours gets a v0
// response with UNSUPPORTED_VERSION and the full key list, as Kafka answers
// (the client then uses the list, or retries at a version we know).
func (c *nullConn) handleAPIVersions(frame []byte, version int16, corr uint32) ([]byte, error) {
	resp := kmsg.NewPtrApiVersionsResponse()
	_, hi, _ := nullVersionRange(nullKeyAPIVersions)
	if version < 0 || version > hi {
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		version = 0
	} else {
		req := kmsg.NewPtrApiVersionsRequest()
		req.SetVersion(version)
		body, err := nullSkipHeader(frame, req.IsFlexible())
		if err != nil {
			return nil, err
		}
		if err := req.ReadFrom(body); err != nil {
			return nil, errNullRequest
		}
	}
	resp.SetVersion(version)
	for _, key := range nullKeys {
		lo, hi, _ := nullVersionRange(key)
		resp.ApiKeys = append(resp.ApiKeys, kmsg.ApiVersionsResponseApiKey{ApiKey: key, MinVersion: lo, MaxVersion: hi})
	}
	return c.appendResponse(corr, false, resp), nil
}

// extend returns s one element longer and a pointer to the new last
// element, which keeps whatever an earlier use of the backing array left
// there (callers reuse its slices).
func extend[T any](s []T) ([]T, *T) {
	if len(s) < cap(s) {
		s = s[:len(s)+1]
	} else {
		var zero T
		s = append(s, zero)
	}
	return s, &s[len(s)-1]
}

// lookup returns the topic named name (by id when byID), or nil.
func (t *nullTopics) lookup(name string, id [16]byte, byID bool) *nullTopic {
	if byID {
		return t.byID[id]
	}
	return t.byName[name]
}

// unknownTopic is the error for a topic not found by name or by id.
func unknownTopic(byID bool) int16 {
	if byID {
		return kerr.UnknownTopicID.Code
	}
	return kerr.UnknownTopicOrPartition.Code
}

// handleProduce counts each partition's records and answers their base
// offsets. With acks=0 it returns no response, and an error (closing the
// connection, Kafka's way to tell the client) if any partition failed.
func (c *nullConn) handleProduce(req *kmsg.ProduceRequest) (kmsg.Response, error) {
	resp := &c.produceResp
	resp.Version = req.Version
	resp.ThrottleMillis = 0
	resp.Topics = resp.Topics[:0]
	topics := c.nb.topics.Load()
	byID := req.Version >= 13
	failed := false
	for i := range req.Topics {
		rt := &req.Topics[i]
		t := topics.lookup(rt.Topic, rt.TopicID, byID)
		var st *kmsg.ProduceResponseTopic
		resp.Topics, st = extend(resp.Topics)
		parts := st.Partitions[:0]
		*st = kmsg.ProduceResponseTopic{Topic: rt.Topic, TopicID: rt.TopicID}
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			var sp *kmsg.ProduceResponseTopicPartition
			parts, sp = extend(parts)
			*sp = kmsg.ProduceResponseTopicPartition{Partition: rp.Partition, BaseOffset: -1}
			sp.Default() // LogAppendTime -1, no CurrentLeader
			sp.LogStartOffset = 0
			switch n, ok := nullCountRecords(rp.Records); {
			case t == nil:
				sp.ErrorCode = unknownTopic(byID)
			case rp.Partition < 0 || int(rp.Partition) >= len(t.parts):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case !ok:
				sp.ErrorCode = kerr.CorruptMessage.Code
			default:
				sp.BaseOffset = t.parts[rp.Partition].next.Add(n) - n
			}
			failed = failed || sp.ErrorCode != 0
		}
		st.Partitions = parts
	}
	if req.Acks == 0 {
		if failed {
			return nil, errNullAcks0
		}
		return nil, nil
	}
	return resp, nil
}

// nullCountRecords returns the number of records in b, one or more v2
// batches back to back, from their headers alone (lastOffsetDelta+1 each;
// the CRC and the records are not checked), and false if b is not such a
// sequence.
func nullCountRecords(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n int64
	for len(b) > 0 {
		h, err := batch.ParseHeader(b) // length and magic
		if err != nil || h.Size() > len(b) || h.LastOffsetDelta < 0 {
			return 0, false
		}
		n += int64(h.LastOffsetDelta) + 1
		b = b[h.Size():]
	}
	return n, true
}

// handleFetch answers every partition at once with copies of the canned
// batch from its fetch offset on.
func (c *nullConn) handleFetch(req *kmsg.FetchRequest) kmsg.Response {
	resp := &c.fetchResp
	resp.Version = req.Version
	resp.ThrottleMillis = 0
	resp.ErrorCode = 0
	resp.SessionID = 0
	resp.Topics = resp.Topics[:0]
	if req.Version >= 7 && req.SessionID != 0 {
		// We never hand out a session, so the client cannot have one.
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		return resp
	}

	size := len(c.nb.canned)
	budget := nullMaxFetch
	if req.Version >= 3 {
		budget = min(max(int(req.MaxBytes), 0), nullMaxFetch)
	}
	first := true
	total := 0 // copies of the canned batch in the response
	c.runs = c.runs[:0]
	topics := c.nb.topics.Load()
	byID := req.Version >= 13
	for i := range req.Topics {
		rt := &req.Topics[i]
		t := topics.lookup(rt.Topic, rt.TopicID, byID)
		var st *kmsg.FetchResponseTopic
		resp.Topics, st = extend(resp.Topics)
		parts := st.Partitions[:0]
		*st = kmsg.FetchResponseTopic{Topic: rt.Topic, TopicID: rt.TopicID}
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			var sp *kmsg.FetchResponseTopicPartition
			parts, sp = extend(parts)
			*sp = kmsg.FetchResponseTopicPartition{Partition: rp.Partition, HighWatermark: -1}
			sp.Default()
			n := 0
			switch {
			case t == nil:
				sp.ErrorCode = unknownTopic(byID)
			case rp.Partition < 0 || int(rp.Partition) >= len(t.parts):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case rp.FetchOffset < 0 || rp.FetchOffset >= nullMaxOffset:
				sp.ErrorCode = kerr.OffsetOutOfRange.Code
			default:
				sp.HighWatermark = rp.FetchOffset + nullAhead
				sp.LastStableOffset = sp.HighWatermark
				sp.LogStartOffset = 0
				n = min(max(int(rp.PartitionMaxBytes), 0), budget) / size
				if n == 0 && first {
					n = 1 // KIP-74: the first partition returns at least one batch
				}
				if n > 0 {
					first = false
					budget = max(budget-n*size, 0)
				}
			}
			c.runs = append(c.runs, n)
			total += n
		}
		st.Partitions = parts
	}

	// Make sure recs holds total copies, then give each partition its
	// own run of them with base offsets from its fetch offset.
	for ; c.copies < total; c.copies++ {
		c.recs = append(c.recs, c.nb.canned...)
	}
	k := 0 // next run
	at := 0
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			sp := &resp.Topics[i].Partitions[j]
			n := c.runs[k]
			k++
			if n == 0 {
				continue
			}
			run := c.recs[at*size : (at+n)*size]
			at += n
			off := sp.HighWatermark - nullAhead
			for b := range n {
				// The CRC does not cover the base offset.
				batch.SetBaseOffset(run[b*size:], off+int64(b*nullBatchRecords))
			}
			sp.RecordBatches = run
		}
	}
	return resp
}

// handleListOffsets answers earliest and by-timestamp queries with 0 and
// latest ones with the partition's produce counter.
func (nb *nullBroker) handleListOffsets(req *kmsg.ListOffsetsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	topics := nb.topics.Load()
	for _, rt := range req.Topics {
		t := topics.byName[rt.Topic]
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			switch {
			case t == nil || rp.Partition < 0 || int(rp.Partition) >= len(t.parts):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case rp.Timestamp == -1: // latest
				sp.Offset = t.parts[rp.Partition].next.Load()
				sp.LeaderEpoch = 0
			default: // earliest (-2), earliest local (-4), a timestamp, ...
				sp.Offset = 0
				sp.LeaderEpoch = 0
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// handleMetadata answers with the one broker and the requested topics (all
// of them for a null list, or an empty one before v1), creating unknown
// ones when the request allows it.
func (nb *nullBroker) handleMetadata(req *kmsg.MetadataRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	resp.Brokers = []kmsg.MetadataResponseBroker{{NodeID: nullNodeID, Host: nb.host, Port: nb.port}}
	clusterID := nullClusterID
	resp.ClusterID = &clusterID
	resp.ControllerID = nullNodeID

	topics := nb.topics.Load()
	if req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0) {
		for _, t := range topics.byName {
			resp.Topics = append(resp.Topics, nb.metadataTopic(t))
		}
		return resp
	}
	autoCreate := req.Version < 4 || req.AllowAutoTopicCreation
	for _, rt := range req.Topics {
		var t *nullTopic
		st := kmsg.NewMetadataResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		switch {
		case rt.Topic == nil: // v10+: by id
			if t = topics.byID[rt.TopicID]; t == nil {
				st.ErrorCode = kerr.UnknownTopicID.Code
			}
		case !nullValidTopic(*rt.Topic):
			st.ErrorCode = kerr.InvalidTopicException.Code
		default:
			if t = topics.byName[*rt.Topic]; t == nil && autoCreate {
				t, _ = nb.createTopic(*rt.Topic, 1) // nil when over nullMaxPartitions
			}
			if t == nil {
				st.ErrorCode = kerr.UnknownTopicOrPartition.Code
			}
		}
		if t != nil {
			st = nb.metadataTopic(t)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func (nb *nullBroker) metadataTopic(t *nullTopic) kmsg.MetadataResponseTopic {
	st := kmsg.NewMetadataResponseTopic()
	st.Topic = &t.name
	st.TopicID = t.id
	st.Partitions = make([]kmsg.MetadataResponseTopicPartition, len(t.parts))
	for i := range st.Partitions {
		sp := &st.Partitions[i]
		sp.Default()
		sp.Partition = int32(i)
		sp.Leader = nullNodeID
		sp.LeaderEpoch = 0
		sp.Replicas = nb.replicas
		sp.ISR = nb.replicas
	}
	return st
}

// createTopic adds a topic with n partitions and returns it with error
// code 0. It returns the existing topic of that name with
// TOPIC_ALREADY_EXISTS, or nil and INVALID_PARTITIONS if the broker would
// have more than nullMaxPartitions.
func (nb *nullBroker) createTopic(name string, n int) (*nullTopic, int16) {
	nb.mu.Lock()
	defer nb.mu.Unlock()
	old := nb.topics.Load()
	if t := old.byName[name]; t != nil {
		return t, kerr.TopicAlreadyExists.Code
	}
	if n > nullMaxPartitions-nb.partitions {
		return nil, kerr.InvalidPartitions.Code
	}
	nb.partitions += n
	t := &nullTopic{name: name, parts: make([]nullPartition, n)}
	for t.id == ([16]byte{}) || old.byID[t.id] != nil {
		rand.Read(t.id[:])
	}
	next := &nullTopics{
		byName: make(map[string]*nullTopic, len(old.byName)+1),
		byID:   make(map[[16]byte]*nullTopic, len(old.byID)+1),
	}
	for k, v := range old.byName {
		next.byName[k] = v
	}
	for k, v := range old.byID {
		next.byID[k] = v
	}
	next.byName[name], next.byID[t.id] = t, t
	nb.topics.Store(next)
	return t, 0
}

// deleteTopic removes the topic named name (by id when byID) and reports
// whether it existed.
func (nb *nullBroker) deleteTopic(name string, id [16]byte, byID bool) (*nullTopic, bool) {
	nb.mu.Lock()
	defer nb.mu.Unlock()
	old := nb.topics.Load()
	t := old.lookup(name, id, byID)
	if t == nil {
		return nil, false
	}
	next := &nullTopics{
		byName: make(map[string]*nullTopic, len(old.byName)),
		byID:   make(map[[16]byte]*nullTopic, len(old.byID)),
	}
	for k, v := range old.byName {
		if v != t {
			next.byName[k] = v
		}
	}
	for k, v := range old.byID {
		if v != t {
			next.byID[k] = v
		}
	}
	nb.topics.Store(next)
	nb.partitions -= len(t.parts)
	return t, true
}

// nullValidTopic reports whether name is a legal Kafka topic name.
func nullValidTopic(name string) bool {
	if name == "" || len(name) > 249 || name == "." || name == ".." {
		return false
	}
	for i := range len(name) {
		switch ch := name[i]; {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9', ch == '.', ch == '_', ch == '-':
		default:
			return false
		}
	}
	return true
}

// handleCreateTopics creates topics with one replica (-1 partitions: one,
// or as many as the replica assignment lists).
func (nb *nullBroker) handleCreateTopics(req *kmsg.CreateTopicsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		n := int(rt.NumPartitions)
		if n == -1 {
			n = max(len(rt.ReplicaAssignment), 1)
		}
		switch {
		case !nullValidTopic(rt.Topic):
			st.ErrorCode = kerr.InvalidTopicException.Code
		case n <= 0 || n > nullMaxPartitions:
			st.ErrorCode = kerr.InvalidPartitions.Code
		case rt.ReplicationFactor != -1 && rt.ReplicationFactor != 1:
			st.ErrorCode = kerr.InvalidReplicationFactor.Code
		case req.ValidateOnly:
			if nb.topics.Load().byName[rt.Topic] != nil {
				st.ErrorCode = kerr.TopicAlreadyExists.Code
			}
		default:
			var t *nullTopic
			if t, st.ErrorCode = nb.createTopic(rt.Topic, n); st.ErrorCode == 0 {
				st.TopicID = t.id
			}
		}
		if st.ErrorCode == 0 {
			st.NumPartitions = int32(n)
			st.ReplicationFactor = 1
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// handleDeleteTopics forgets topics (v6: by name or by id).
func (nb *nullBroker) handleDeleteTopics(req *kmsg.DeleteTopicsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	del := func(name *string, id [16]byte) {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = name, id
		byID := name == nil
		n := ""
		if name != nil {
			n = *name
		}
		if t, ok := nb.deleteTopic(n, id, byID); ok {
			st.Topic, st.TopicID = &t.name, t.id
		} else {
			st.ErrorCode = unknownTopic(byID)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if req.Version >= 6 {
		for _, rt := range req.Topics {
			del(rt.Topic, rt.TopicID)
		}
	} else {
		for i := range req.TopicNames {
			del(&req.TopicNames[i], [16]byte{})
		}
	}
	return resp
}

// handleInitProducerID hands out a new producer id with epoch 0, or bumps
// the epoch of the id the request names (v3+, KIP-360). Transactional ids
// are refused: there is no transaction coordinator.
func (nb *nullBroker) handleInitProducerID(req *kmsg.InitProducerIDRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	switch {
	case req.TransactionalID != nil:
		resp.ErrorCode = kerr.InvalidRequest.Code
	case req.Version >= 3 && req.ProducerID >= 0 && req.ProducerEpoch >= 0 && req.ProducerEpoch < math.MaxInt16:
		resp.ProducerID, resp.ProducerEpoch = req.ProducerID, req.ProducerEpoch+1
	default:
		resp.ProducerID, resp.ProducerEpoch = nb.producerIDs.Add(1), 0
	}
	return resp
}
