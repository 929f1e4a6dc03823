package broker_test

import (
	"encoding/binary"
	"io"
	"net"
	"runtime"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/weirhq/weir/batch"
	"github.com/weirhq/weir/weirtest"
)

// BenchmarkFetchAllocs measures the broker's allocations per Fetch request
// (the client side reuses its buffers and allocates nothing): 4 partitions,
// each fetch reads 1 MiB from offset 0 of a cached log.
func BenchmarkFetchAllocs(b *testing.B) {
	br := weirtest.Start(b)
	cl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	id := createTopic(b, adm, "fa", 4, nil)
	_ = id
	raw := dialRaw(b, br.Addr())
	for p := int32(0); p < 4; p++ {
		for i := 0; i < 64; i++ {
			raw.produceOne(9, "fa", [16]byte{}, p, newBatch(b, batch.BuilderOptions{}, 16, "x", 1))
		}
	}
	raw.Close()
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 0, 1, 4<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "fa"
	for p := int32(0); p < 4; p++ {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, 0, 1<<20
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	benchBrokerAllocs(b, br.Addr(), rawFrame(1, 12, req.AppendTo(nil)), 8<<20)
}

// rawFrame frames a request body with a flexible (v2) header: size, key,
// version, correlation id 1, null client id, no tags.
func rawFrame(key, version int16, body []byte) []byte {
	frame := binary.BigEndian.AppendUint32(nil, 0)
	frame = binary.BigEndian.AppendUint16(frame, uint16(key))
	frame = binary.BigEndian.AppendUint16(frame, uint16(version))
	frame = binary.BigEndian.AppendUint32(frame, 1)
	frame = binary.BigEndian.AppendUint16(frame, 0xffff)
	frame = append(frame, 0)
	frame = append(frame, body...)
	binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
	return frame
}

// benchBrokerAllocs sends frame and reads its response b.N times over one
// connection, with buffers reused so that the client allocates nothing, and
// reports the process's allocations per request: the broker's.
func benchBrokerAllocs(b *testing.B, addr string, frame []byte, maxResp int) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	buf := make([]byte, maxResp)
	var hdr [4]byte
	roundTrip := func() {
		if _, err := conn.Write(frame); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(conn, hdr[:]); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(conn, buf[:binary.BigEndian.Uint32(hdr[:])]); err != nil {
			b.Fatal(err)
		}
	}
	for range 200 {
		roundTrip()
	}
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	b.ResetTimer()
	for b.Loop() {
		roundTrip()
	}
	b.StopTimer()
	runtime.ReadMemStats(&m1)
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(b.N), "broker-allocs/req")
}
