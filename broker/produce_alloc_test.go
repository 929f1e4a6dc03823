package broker_test

import (
	"encoding/binary"
	"io"
	"net"
	"runtime"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirhq/weir/batch"
	"github.com/weirhq/weir/weirtest"
)

// BenchmarkProduceAllocs measures the broker's allocations per Produce
// request (acks=1 and acks=all; one 16-record batch to each of 4
// partitions). The client reuses its buffers and allocates nothing.
func BenchmarkProduceAllocs(b *testing.B) {
	for _, acks := range []int16{1, -1} {
		b.Run(map[int16]string{1: "acks=1", -1: "acks=all"}[acks], func(b *testing.B) {
			br := weirtest.Start(b)
			cl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()))
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			createTopic(b, kadm.NewClient(cl), "pa", 4, nil)
			req := produceReq(9, "pa", [16]byte{}, 0, acks, newBatch(b, batch.BuilderOptions{}, 16, "x", 1))
			for p := int32(1); p < 4; p++ {
				rp := req.Topics[0].Partitions[0]
				rp.Partition = p
				req.Topics[0].Partitions = append(req.Topics[0].Partitions, rp)
			}
			body := req.AppendTo(nil)
			frame := binary.BigEndian.AppendUint32(nil, 0)
			frame = binary.BigEndian.AppendUint16(frame, 0)
			frame = binary.BigEndian.AppendUint16(frame, 9)
			frame = binary.BigEndian.AppendUint32(frame, 1)
			frame = binary.BigEndian.AppendUint16(frame, 0xffff)
			frame = append(frame, 0)
			frame = append(frame, body...)
			binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
			conn, err := net.Dial("tcp", br.Addr())
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			buf := make([]byte, 1<<16)
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
		})
	}
}
