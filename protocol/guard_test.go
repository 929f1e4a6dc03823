package protocol

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func sampleRequests(topTags bool) []kmsg.Request {
	var out []kmsg.Request
	for v := int16(9); v <= 13; v++ {
		r := kmsg.NewPtrProduceRequest()
		r.Version = v
		tid := "txn"
		r.TransactionID = &tid
		r.Acks, r.TimeoutMillis = -1, 1000
		for _, name := range []string{"a", "topic-b"} {
			t := kmsg.NewProduceRequestTopic()
			t.Topic = name
			t.TopicID = [16]byte{1, 2}
			for p := int32(0); p < 3; p++ {
				pp := kmsg.NewProduceRequestTopicPartition()
				pp.Partition = p
				pp.Records = []byte("records-bytes")
				t.Partitions = append(t.Partitions, pp)
			}
			r.Topics = append(r.Topics, t)
		}
		out = append(out, r)
	}
	for v := int16(12); v <= 18; v++ {
		r := kmsg.NewPtrFetchRequest()
		r.Version = v
		r.MaxWaitMillis, r.MinBytes, r.MaxBytes = 500, 1, 1<<20
		if topTags {
			cid := "cluster"
			r.ClusterID = &cid // a known tag
		}
		for _, name := range []string{"a", "bb"} {
			t := kmsg.NewFetchRequestTopic()
			t.Topic = name
			t.TopicID = [16]byte{3}
			for p := int32(0); p < 2; p++ {
				pp := kmsg.NewFetchRequestTopicPartition()
				pp.Partition, pp.FetchOffset, pp.PartitionMaxBytes = p, 42, 1<<20
				pp.HighWatermark = 7 // a known partition tag
				t.Partitions = append(t.Partitions, pp)
			}
			r.Topics = append(r.Topics, t)
		}
		ft := kmsg.NewFetchRequestForgottenTopic()
		ft.Topic = "gone"
		ft.Partitions = []int32{1, 2}
		r.ForgottenTopics = append(r.ForgottenTopics, ft)
		r.Rack = "rack-1"
		out = append(out, r)
	}
	return out
}

func TestCheckFlexibleProduceFetch(t *testing.T) {
	for _, r := range append(sampleRequests(true), sampleRequests(false)...) {
		body := r.AppendTo(nil)
		if err := CheckFlexibleProduceFetch(r.Key(), r.GetVersion(), body); err != nil {
			t.Fatalf("%s v%d: valid request refused: %v", kmsg.NameForKey(r.Key()), r.GetVersion(), err)
		}
		// Every truncation is refused (or, where kmsg would also accept
		// it, passes) and never panics; kmsg never stalls after a pass.
		for n := 0; n < len(body); n++ {
			if CheckFlexibleProduceFetch(r.Key(), r.GetVersion(), body[:n]) == nil {
				dec := kmsg.RequestForKey(r.Key())
				dec.SetVersion(r.GetVersion())
				start := time.Now()
				dec.ReadFrom(body[:n])
				if d := time.Since(start); d > 100*time.Millisecond {
					t.Fatalf("%s v%d cut at %d: passed the check but kmsg took %v", kmsg.NameForKey(r.Key()), r.GetVersion(), n, d)
				}
			}
		}
		if fr, ok := r.(*kmsg.FetchRequest); ok && fr.ClusterID != nil {
			continue
		}
		// A huge tagged-field count at the end (where kmsg reads the
		// top-level tags, here empty) is refused.
		evil := append(body[:len(body)-1:len(body)-1], 0xff, 0xff, 0xff, 0xff, 0x0f)
		if CheckFlexibleProduceFetch(r.Key(), r.GetVersion(), evil) == nil {
			t.Fatalf("%s v%d: a tag count of 2^32-1 passed", kmsg.NameForKey(r.Key()), r.GetVersion())
		}
	}
	// Non-flexible versions are not walked.
	if err := CheckFlexibleProduceFetch(0, 8, []byte{1}); err != nil {
		t.Fatal(err)
	}
}

func FuzzCheckFlexibleProduceFetch(f *testing.F) {
	for _, r := range sampleRequests(true) {
		f.Add(r.Key(), r.GetVersion(), r.AppendTo(nil))
	}
	f.Fuzz(func(t *testing.T, key, version int16, body []byte) {
		if key != 0 && key != 1 {
			return
		}
		if CheckFlexibleProduceFetch(key, version, body) != nil {
			return
		}
		dec := kmsg.RequestForKey(key)
		if version < 0 || version > dec.MaxVersion() {
			return
		}
		dec.SetVersion(version)
		start := time.Now()
		dec.ReadFrom(body)
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Fatalf("passed the check but kmsg took %v", d)
		}
	})
}
