package broker_test

// Helpers shared by the broker's integration tests: a raw Kafka connection
// that speaks an explicit API version (kgo always negotiates the highest),
// batch building, and small admin shortcuts.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/weirhq/weir/batch"
)

// longTests reports whether the long loops run (make test-long).
func longTests() bool { return os.Getenv("WEIR_LONG") != "" }

// rawClient is one TCP connection to a broker that sends requests at the
// version set on them and decodes the responses.
type rawClient struct {
	t    testing.TB
	conn net.Conn
	corr int32
	f    *kmsg.RequestFormatter
}

func dialRaw(t testing.TB, addr string) *rawClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	rc := &rawClient{t: t, conn: c, f: kmsg.NewRequestFormatter(kmsg.FormatterClientID("weir-test"))}
	t.Cleanup(func() { c.Close() })
	return rc
}

func (c *rawClient) Close() { c.conn.Close() }

// writeRaw writes bytes as they are (framing included).
func (c *rawClient) writeRaw(b []byte) error {
	c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := c.conn.Write(b)
	return err
}

// readFrame reads one response frame (without its size) within timeout.
func (c *rawClient) readFrame(timeout time.Duration) ([]byte, error) {
	c.conn.SetReadDeadline(time.Now().Add(timeout))
	var sz [4]byte
	if _, err := io.ReadFull(c.conn, sz[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(sz[:]))
	if n < 4 || n > 256<<20 {
		return nil, fmt.Errorf("response frame size %d", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(c.conn, b); err != nil {
		return nil, err
	}
	return b, nil
}

// send writes req (at req.GetVersion()) and returns its correlation id.
func (c *rawClient) send(req kmsg.Request) (int32, error) {
	c.corr++
	return c.corr, c.writeRaw(c.f.AppendRequest(nil, req, c.corr))
}

// recv reads the response to req sent with correlation id corr.
func (c *rawClient) recv(req kmsg.Request, corr int32, timeout time.Duration) (kmsg.Response, error) {
	frame, err := c.readFrame(timeout)
	if err != nil {
		return nil, err
	}
	return decodeResponse(req, corr, frame)
}

func decodeResponse(req kmsg.Request, corr int32, frame []byte) (kmsg.Response, error) {
	if got := int32(binary.BigEndian.Uint32(frame)); got != corr {
		return nil, fmt.Errorf("correlation id %d, want %d", got, corr)
	}
	body := frame[4:]
	if req.IsFlexible() && req.Key() != 18 {
		var err error
		if body, err = skipTags(body); err != nil {
			return nil, err
		}
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("decode %s v%d response: %w", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp, nil
}

func skipTags(b []byte) ([]byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return nil, errors.New("bad tag count")
	}
	b = b[k:]
	for i := uint64(0); i < n; i++ {
		_, k := binary.Uvarint(b)
		if k <= 0 {
			return nil, errors.New("bad tag")
		}
		b = b[k:]
		size, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < size {
			return nil, errors.New("bad tag size")
		}
		b = b[k+int(size):]
	}
	return b, nil
}

// request sends req and waits for its response.
func (c *rawClient) request(req kmsg.Request) (kmsg.Response, error) {
	corr, err := c.send(req)
	if err != nil {
		return nil, err
	}
	return c.recv(req, corr, 30*time.Second)
}

// must sends req and fails the test on any transport or decode error.
func (c *rawClient) must(req kmsg.Request) kmsg.Response {
	c.t.Helper()
	resp, err := c.request(req)
	if err != nil {
		c.t.Fatalf("%s v%d: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp
}

// expectClosed reports whether the broker closes the connection (EOF or
// reset) within timeout, reading and discarding whatever comes first.
func (c *rawClient) expectClosed(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 4096)
	for {
		c.conn.SetReadDeadline(deadline)
		_, err := c.conn.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return fmt.Errorf("connection still open after %v", timeout)
		}
		return nil // EOF, reset: closed
	}
}

// newBatch builds one batch of n records with values prefix-0.. and
// timestamps ts, ts+1, ...
func newBatch(t testing.TB, opts batch.BuilderOptions, n int, prefix string, ts int64) []byte {
	t.Helper()
	b, err := batch.NewBuilder(&opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := b.Append([]byte(fmt.Sprintf("k%d", i)), []byte(fmt.Sprintf("%s-%d", prefix, i)), nil, ts+int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	return b.AppendTo(nil)
}

// produceReq is a Produce request for one partition.
func produceReq(version int16, topic string, id [16]byte, partition int32, acks int16, records []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version = version
	req.Acks = acks
	req.TimeoutMillis = 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rt.TopicID = id
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	rp.Records = records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// produceOne sends a Produce with acks=all for one partition and returns
// its partition response.
func (c *rawClient) produceOne(version int16, topic string, id [16]byte, partition int32, records []byte) kmsg.ProduceResponseTopicPartition {
	c.t.Helper()
	resp := c.must(produceReq(version, topic, id, partition, -1, records)).(*kmsg.ProduceResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		c.t.Fatalf("produce response shape: %+v", resp)
	}
	return resp.Topics[0].Partitions[0]
}

// fetchReq is a Fetch request for one partition.
func fetchReq(version int16, topic string, id [16]byte, partition int32, offset int64, maxWait, minBytes, maxBytes, partMax int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version = version
	req.MaxWaitMillis = maxWait
	req.MinBytes = minBytes
	req.MaxBytes = maxBytes
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rt.TopicID = id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = partition
	rp.FetchOffset = offset
	rp.PartitionMaxBytes = partMax
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// fetchOne fetches one partition and returns its partition response.
func (c *rawClient) fetchOne(req *kmsg.FetchRequest) kmsg.FetchResponseTopicPartition {
	c.t.Helper()
	resp := c.must(req).(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 {
		c.t.Fatalf("fetch: top-level error %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		c.t.Fatalf("fetch response shape: %+v", resp)
	}
	return resp.Topics[0].Partitions[0]
}

// rec is a decoded record.
type rec struct {
	Offset    int64
	Timestamp int64
	Key       string
	Value     string
	LogAppend bool
}

// decodeBatches decodes the whole batches in b (a cut last batch is
// ignored, as clients do) and checks each batch's CRC.
func decodeBatches(t testing.TB, b []byte) []rec {
	t.Helper()
	var out []rec
	var it batch.Iter
	for len(b) >= batch.HeaderSize {
		size := batch.Size0(b)
		if size > len(b) {
			break
		}
		if _, err := batch.Validate(b[:size]); err != nil {
			t.Fatalf("fetched batch invalid: %v", err)
		}
		if err := it.Reset(b[:size]); err != nil {
			t.Fatal(err)
		}
		h := it.Header()
		var r batch.Record
		for it.Next(&r) {
			out = append(out, rec{Offset: r.Offset, Timestamp: r.Timestamp, Key: string(r.Key), Value: string(r.Value), LogAppend: h.IsLogAppendTime()})
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		b = b[size:]
	}
	return out
}

// topicID returns a topic's id from metadata.
func topicID(t testing.TB, adm *kadm.Client, topic string) [16]byte {
	t.Helper()
	td, err := adm.ListTopics(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	d, ok := td[topic]
	if !ok || d.Err != nil {
		t.Fatalf("topic %s: %v", topic, d.Err)
	}
	return d.ID
}

// createTopic creates a topic and fails the test on error.
func createTopic(t testing.TB, adm *kadm.Client, topic string, partitions int32, configs map[string]*string) [16]byte {
	t.Helper()
	resp, err := adm.CreateTopic(context.Background(), partitions, 1, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	return resp.ID
}

// listOffset asks a partition's offset for timestamp ts (-1 latest, -2
// earliest, -3 max timestamp) with ListOffsets v8.
func (c *rawClient) listOffset(topic string, partition int32, ts int64) kmsg.ListOffsetsResponseTopicPartition {
	c.t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = 8
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition = partition
	rp.Timestamp = ts
	rp.CurrentLeaderEpoch = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := c.must(req).(*kmsg.ListOffsetsResponse)
	return resp.Topics[0].Partitions[0]
}

// endOffset returns a partition's high watermark.
func (c *rawClient) endOffset(topic string, partition int32) int64 {
	c.t.Helper()
	p := c.listOffset(topic, partition, -1)
	if p.ErrorCode != 0 {
		c.t.Fatalf("list offsets %s/%d: %v", topic, partition, kerr.ErrorForCode(p.ErrorCode))
	}
	return p.Offset
}

// errName names a Kafka error code for messages.
func errName(code int16) string {
	if code == 0 {
		return "NONE"
	}
	if e := kerr.ErrorForCode(code); e != nil {
		if ke, ok := e.(*kerr.Error); ok {
			return ke.Message
		}
		return e.Error()
	}
	return fmt.Sprint(code)
}

func wantCode(t testing.TB, what string, got int16, want *kerr.Error) {
	t.Helper()
	if got != want.Code {
		t.Fatalf("%s: error %s, want %s", what, errName(got), want.Message)
	}
}

// tempTopic returns a topic name unique to the test.
func tempTopic(t testing.TB, suffix string) string {
	name := strings.NewReplacer("/", ".", " ", "_", "#", "_").Replace(t.Name())
	if suffix != "" {
		name += "." + suffix
	}
	return name
}
