package broker_test

import (
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
			benchBrokerAllocs(b, br.Addr(), rawFrame(0, 9, req.AppendTo(nil)), 1<<16)
		})
	}
}
