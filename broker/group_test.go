package broker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirhq/weir/weirtest"
)

func TestGroupConsumeCommitResume(t *testing.T) {
	b := weirtest.Start(t)
	ctx := ctxT(t)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, "g1"); err != nil {
		t.Fatal(err)
	}
	p := newClient(t, b.Addr(), kgo.DefaultProduceTopic("g1"))
	for i := 0; i < 300; i++ {
		if err := p.ProduceSync(ctx, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	consume := func(n int) map[string]bool {
		cl := newClient(t, b.Addr(), kgo.ConsumeTopics("g1"), kgo.ConsumerGroup("grp"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
		seen := map[string]bool{}
		for len(seen) < n {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("consumed %d of %d", len(seen), n)
			}
			fs.EachError(func(_ string, _ int32, err error) { t.Fatal(err) })
			fs.EachRecord(func(r *kgo.Record) {
				if seen[string(r.Value)] {
					t.Fatalf("record %s consumed twice", r.Value)
				}
				seen[string(r.Value)] = true
			})
		}
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatal(err)
		}
		cl.Close()
		return seen
	}
	first := consume(300)
	if len(first) != 300 {
		t.Fatal(len(first))
	}
	lags, err := adm.Lag(ctx, "grp")
	if err != nil {
		t.Fatal(err)
	}
	if l := lags["grp"]; l.Error() != nil || l.Lag.Total() != 0 {
		t.Fatalf("lag after commit: %+v", l)
	}
	b.Restart()
	for i := 300; i < 310; i++ {
		if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	second := consume(10)
	for v := range second {
		if first[v] {
			t.Fatalf("record %s consumed again after restart", v)
		}
	}
	t.Logf("resumed after restart in %v", time.Since(start))
}
