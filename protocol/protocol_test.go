package protocol

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// materialize turns chunks into bytes, reading file regions.
func materialize(t *testing.T, chunks []Chunk) []byte {
	t.Helper()
	var out []byte
	for _, c := range chunks {
		if c.Buf != nil {
			out = append(out, c.Buf...)
			continue
		}
		b := make([]byte, c.Len)
		f := os.NewFile(uintptr(c.Fd), "region")
		if _, err := f.ReadAt(b, c.Off); err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	return out
}

func TestFetchWriterMatchesKmsg(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seg")
	fileData := bytes.Repeat([]byte("0123456789abcdef"), 256)
	if err := os.WriteFile(path, fileData, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	id := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	mem := []byte("in-memory-records")
	var w FetchWriter
	for v := int16(4); v <= 18; v++ {
		w.Reset(v, 77, 5, 0, 0, 2)
		w.Topic("orders", id, 2)
		p0 := FetchPartition{Index: 0, HighWatermark: 100, LastStableOffset: 90, LogStartOffset: 3, PreferredReadReplica: -1, CurrentLeaderID: -1}
		w.Partition(&p0, int(f.Fd()), 16, 100)
		p1 := FetchPartition{Index: 1, ErrorCode: 1, HighWatermark: -1, LastStableOffset: -1, LogStartOffset: -1, PreferredReadReplica: -1,
			AbortedTransactions: []AbortedTransaction{{ProducerID: 9, FirstOffset: 42}}, CurrentLeaderID: 1, CurrentLeaderEpoch: 7}
		w.PartitionBytes(&p1, mem)
		w.EndTopic()
		w.Topic("empty", id, 2)
		p2 := FetchPartition{Index: 5, PreferredReadReplica: -1, CurrentLeaderID: -1}
		w.PartitionBytes(&p2, []byte{})
		// Read into the response: a failed read adds nothing.
		p3 := FetchPartition{Index: 6, HighWatermark: 11, PreferredReadReplica: -1, CurrentLeaderID: 1, CurrentLeaderEpoch: 2}
		if err := w.PartitionReadAt(&p3, f, int64(len(fileData))-10, 50); err == nil {
			t.Fatalf("v%d: PartitionReadAt past the end of the file succeeded", v)
		}
		if err := w.PartitionReadAt(&p3, f, 200, 50); err != nil {
			t.Fatalf("v%d: PartitionReadAt: %v", v, err)
		}
		w.EndTopic()
		chunks := w.Finish()
		raw := materialize(t, chunks)
		if int64(len(raw)) != w.Size() {
			t.Fatalf("v%d: size %d, chunks hold %d", v, w.Size(), len(raw))
		}
		if got := int(binary.BigEndian.Uint32(raw)); got != len(raw)-4 {
			t.Fatalf("v%d: frame size %d, want %d", v, got, len(raw)-4)
		}
		if corr := int32(binary.BigEndian.Uint32(raw[4:])); corr != 77 {
			t.Fatalf("v%d: correlation %d", v, corr)
		}
		body := raw[8:]
		if v >= 12 {
			body = body[1:] // response header tags
		}
		resp := kmsg.NewPtrFetchResponse()
		resp.Version = v
		if err := resp.ReadFrom(body); err != nil {
			t.Fatalf("v%d: kmsg cannot decode: %v", v, err)
		}
		if resp.ThrottleMillis != 5 || len(resp.Topics) != 2 || len(resp.Topics[0].Partitions) != 2 {
			t.Fatalf("v%d: bad decode %+v", v, resp)
		}
		tp := resp.Topics[0]
		if v >= 13 && tp.TopicID != id {
			t.Fatalf("v%d: topic id", v)
		}
		if v < 13 && tp.Topic != "orders" {
			t.Fatalf("v%d: topic %q", v, tp.Topic)
		}
		a, b := tp.Partitions[0], tp.Partitions[1]
		if !bytes.Equal(a.RecordBatches, fileData[16:116]) || a.HighWatermark != 100 || a.LastStableOffset != 90 {
			t.Fatalf("v%d: partition 0: %+v", v, a)
		}
		if v >= 5 && a.LogStartOffset != 3 {
			t.Fatalf("v%d: log start %d", v, a.LogStartOffset)
		}
		if a.AbortedTransactions != nil {
			t.Fatalf("v%d: aborted should be null", v)
		}
		if !bytes.Equal(b.RecordBatches, mem) || b.ErrorCode != 1 || len(b.AbortedTransactions) != 1 || b.AbortedTransactions[0].FirstOffset != 42 {
			t.Fatalf("v%d: partition 1: %+v", v, b)
		}
		if v >= 12 && (b.CurrentLeader.LeaderID != 1 || b.CurrentLeader.LeaderEpoch != 7) {
			t.Fatalf("v%d: current leader %+v", v, b.CurrentLeader)
		}
		if p := resp.Topics[1].Partitions[0]; p.Partition != 5 || p.RecordBatches == nil || len(p.RecordBatches) != 0 {
			t.Fatalf("v%d: empty partition %+v", v, p)
		}
		if p := resp.Topics[1].Partitions[1]; p.Partition != 6 || p.HighWatermark != 11 || !bytes.Equal(p.RecordBatches, fileData[200:250]) ||
			v >= 12 && p.CurrentLeader.LeaderID != 1 {
			t.Fatalf("v%d: partition read into the response: %+v", v, p)
		}
	}
}

func TestFetchWriterAllocs(t *testing.T) {
	var w FetchWriter
	id := [16]byte{1}
	src := bytes.NewReader(make([]byte, 4096))
	run := func() {
		w.Reset(16, 1, 0, 0, 0, 1)
		w.Topic("t", id, 5)
		for i := int32(0); i < 4; i++ {
			p := FetchPartition{Index: i, PreferredReadReplica: -1, CurrentLeaderID: -1}
			w.Partition(&p, 3, 0, 1000)
		}
		p := FetchPartition{Index: 4, PreferredReadReplica: -1, CurrentLeaderID: -1}
		if err := w.PartitionReadAt(&p, src, 100, 3000); err != nil {
			t.Fatal(err)
		}
		w.EndTopic()
		w.Finish()
	}
	run()
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Fatalf("FetchWriter allocates %v per response", n)
	}
}

func TestRequestHeader(t *testing.T) {
	for _, tc := range []struct {
		key, version int16
		flexible     bool
	}{{0, 8, false}, {0, 9, true}, {1, 11, false}, {1, 12, true}, {18, 2, false}, {18, 3, true}, {3, 9, true}} {
		if got := IsFlexible(tc.key, tc.version); got != tc.flexible {
			t.Errorf("IsFlexible(%d, %d) = %v", tc.key, tc.version, got)
		}
		frame := AppendInt16(nil, tc.key)
		frame = AppendInt16(frame, tc.version)
		frame = AppendInt32(frame, 1234)
		frame = AppendString(frame, "client-1", false)
		if tc.flexible {
			frame = append(frame, 1, 7, 2, 'x', 'y') // one unknown tag
		}
		frame = append(frame, "BODY"...)
		h, body, err := ParseRequestHeader(frame)
		if err != nil {
			t.Fatal(err)
		}
		if h.APIKey != tc.key || h.APIVersion != tc.version || h.CorrelationID != 1234 || string(h.ClientID) != "client-1" || string(body) != "BODY" {
			t.Fatalf("%+v %q", h, body)
		}
	}
	// Null client id; truncated headers.
	frame := append(AppendInt32(AppendInt16(AppendInt16(nil, 3), 1), 5), 0xff, 0xff)
	if h, _, err := ParseRequestHeader(frame); err != nil || h.ClientID != nil {
		t.Fatalf("null client id: %v %v", h, err)
	}
	for n := 0; n < len(frame)-2; n++ {
		if _, _, err := ParseRequestHeader(frame[:n]); err == nil {
			t.Fatalf("truncated header of %d bytes accepted", n)
		}
	}
	bad := append(AppendInt32(AppendInt16(AppendInt16(nil, 3), 1), 5), 0, 50, 'a')
	if _, _, err := ParseRequestHeader(bad); err == nil {
		t.Fatal("client id longer than frame accepted")
	}
}

func FuzzParseRequestHeader(f *testing.F) {
	f.Add([]byte{0, 3, 0, 12, 0, 0, 0, 1, 0, 1, 'c', 0})
	f.Add([]byte{0, 18, 0, 3, 0, 0, 0, 1, 255, 255, 2, 1, 2, 3})
	f.Fuzz(func(t *testing.T, frame []byte) {
		h, body, err := ParseRequestHeader(frame)
		if err == nil && len(body) > len(frame) {
			t.Fatalf("body longer than frame: %+v", h)
		}
	})
}
