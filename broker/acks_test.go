package broker_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirhq/weir/weirtest"
)

// TestAcksLevels produces with acks=0, 1 and all; every record is readable
// afterwards, in order (for acks=0, once it becomes visible).
func TestAcksLevels(t *testing.T) {
	b := weirtest.Start(t)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	for _, tc := range []struct {
		name string
		opts []kgo.Opt
	}{
		{"none", []kgo.Opt{kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite()}},
		{"leader", []kgo.Opt{kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite()}},
		{"all", []kgo.Opt{kgo.RequiredAcks(kgo.AllISRAcks())}},
		{"all-no-idempotence", []kgo.Opt{kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DisableIdempotentWrite()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := "acks-" + tc.name
			createTopic(t, adm, topic, 1, nil)
			const n = 5000
			cl := newClient(t, b.Addr(), append([]kgo.Opt{kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(time.Millisecond)}, tc.opts...)...)
			ctx := ctxT(t)
			var wg sync.WaitGroup
			var mu sync.Mutex
			var firstErr error
			for i := 0; i < n; i++ {
				wg.Add(1)
				cl.Produce(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("v%05d", i))}, func(r *kgo.Record, err error) {
					defer wg.Done()
					if err != nil {
						mu.Lock()
						if firstErr == nil {
							firstErr = err
						}
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if firstErr != nil {
				t.Fatalf("produce: %v", firstErr)
			}
			// acks=0 has no answer to wait for: consumeAll polls until
			// every record is visible (or its deadline).
			got := consumeAll(t, b.Addr(), topic, n)
			rs := got[0]
			if len(rs) != n {
				t.Fatalf("consumed %d records, want %d", len(rs), n)
			}
			for i, r := range rs {
				if want := fmt.Sprintf("v%05d", i); string(r.Value) != want || r.Offset != int64(i) {
					t.Fatalf("record %d: offset %d value %s, want offset %d value %s", i, r.Offset, r.Value, i, want)
				}
			}
			// Nothing more arrives.
			end, err := adm.ListEndOffsets(context.Background(), topic)
			if err != nil {
				t.Fatal(err)
			}
			if o, _ := end.Lookup(topic, 0); o.Offset != n {
				t.Fatalf("end offset %d, want %d", o.Offset, n)
			}
		})
	}
}
