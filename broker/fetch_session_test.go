package broker_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/weirhq/weir/broker"
	"github.com/weirhq/weir/weirtest"
)

// sessFetch sends an incremental-capable Fetch (no wait) and returns the
// response.
func sessFetch(t *testing.T, c *rawClient, req *kmsg.FetchRequest, id, epoch int32) *kmsg.FetchResponse {
	t.Helper()
	req.SessionID, req.SessionEpoch = id, epoch
	return c.must(req).(*kmsg.FetchResponse)
}

// partsIn lists "topic/partition" for every partition in a response.
func partsIn(resp *kmsg.FetchResponse) map[int32]kmsg.FetchResponseTopicPartition {
	out := map[int32]kmsg.FetchResponseTopicPartition{}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			out[rp.Partition] = rp
		}
	}
	return out
}

// TestFetchSessions drives KIP-227 sessions by hand: creation, incremental
// requests that list only changes, responses that list only news, epochs,
// forgotten partitions, closing, topic ids, and a full cache.
func TestFetchSessions(t *testing.T) {
	b := weirtest.Start(t, weirtest.WithConfig(func(c *broker.Config) { c.FetchSessionSlots = 2 }))
	adm := kadm.NewClient(newClient(t, b.Addr()))
	c := dialRaw(t, b.Addr())
	const topic = "sessions"
	id := createTopic(t, adm, topic, 3, nil)
	produceBatches(t, c, topic, 0, 2, 5, "a") // partition 0: offsets 0..9
	produceBatches(t, c, topic, 1, 1, 5, "b") // partition 1: offsets 0..4

	// One request naming partitions 0-2 at the given offsets.
	full := func(version int16, offsets ...int64) *kmsg.FetchRequest {
		req := fetchReq(version, topic, id, 0, offsets[0], 0, 1, 1<<20, 1<<20)
		for p := 1; p < len(offsets); p++ {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.LogStartOffset, rp.CurrentLeaderEpoch = int32(p), offsets[p], 1<<20, -1, -1
			req.Topics[0].Partitions = append(req.Topics[0].Partitions, rp)
		}
		return req
	}
	// An incremental request with only these partition updates.
	incr := func(version int16, updates map[int32]int64) *kmsg.FetchRequest {
		req := full(version, 0)
		req.Topics[0].Partitions = req.Topics[0].Partitions[:0]
		for p, off := range updates {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.LogStartOffset, rp.CurrentLeaderEpoch = p, off, 1<<20, -1, -1
			req.Topics[0].Partitions = append(req.Topics[0].Partitions, rp)
		}
		if len(updates) == 0 {
			req.Topics = nil
		}
		return req
	}

	resp := sessFetch(t, c, incr(12, nil), 12345, 1)
	wantCode(t, "unknown session", resp.ErrorCode, kerr.FetchSessionIDNotFound)
	if len(resp.Topics) != 0 {
		t.Fatalf("unknown session: %d topics in the response, want none", len(resp.Topics))
	}

	// A new session answers every partition, as a full fetch.
	resp = sessFetch(t, c, full(12, 0, 0, 0), 0, 0)
	sid := resp.SessionID
	if resp.ErrorCode != 0 || sid == 0 {
		t.Fatalf("new session: error %s, id %d", errName(resp.ErrorCode), sid)
	}
	got := partsIn(resp)
	if len(got) != 3 || len(decodeBatches(t, got[0].RecordBatches)) != 10 || len(decodeBatches(t, got[1].RecordBatches)) != 5 || got[2].HighWatermark != 0 {
		t.Fatalf("new session: %d partitions, %+v", len(got), got)
	}

	// The client moves to the ends: nothing new, so nothing listed.
	resp = sessFetch(t, c, incr(12, map[int32]int64{0: 10, 1: 5}), sid, 1)
	if resp.ErrorCode != 0 || resp.SessionID != sid || len(resp.Topics) != 0 {
		t.Fatalf("caught up: error %s, id %d, %d topics; want none", errName(resp.ErrorCode), resp.SessionID, len(resp.Topics))
	}
	// The same epoch again is refused.
	resp = sessFetch(t, c, incr(12, nil), sid, 1)
	wantCode(t, "repeated epoch", resp.ErrorCode, kerr.InvalidFetchSessionEpoch)

	// New records on partition 2 only: the response lists partition 2,
	// read from the offset the session holds (0).
	produceBatches(t, c, topic, 2, 1, 3, "c")
	resp = sessFetch(t, c, incr(12, nil), sid, 2)
	got = partsIn(resp)
	if len(got) != 1 || got[2].HighWatermark != 3 || len(decodeBatches(t, got[2].RecordBatches)) != 3 {
		t.Fatalf("new records on partition 2: %+v", got)
	}
	// Told once: the same state is not repeated.
	resp = sessFetch(t, c, incr(12, map[int32]int64{2: 3}), sid, 3)
	if len(resp.Topics) != 0 {
		t.Fatalf("after partition 2 caught up: %d topics, want none", len(resp.Topics))
	}

	// A moved log start offset is news even without records.
	dr := kmsg.NewPtrDeleteRecordsRequest()
	dt := kmsg.NewDeleteRecordsRequestTopic()
	dt.Topic = topic
	dp := kmsg.NewDeleteRecordsRequestTopicPartition()
	dp.Partition, dp.Offset = 0, 5
	dt.Partitions = append(dt.Partitions, dp)
	dr.Topics = append(dr.Topics, dt)
	dr.TimeoutMillis = 5000
	c.must(dr)
	resp = sessFetch(t, c, incr(12, nil), sid, 4)
	got = partsIn(resp)
	if len(got) != 1 || got[0].LogStartOffset != 5 || len(got[0].RecordBatches) != 0 {
		t.Fatalf("after DeleteRecords: %+v", got)
	}

	// Forgetting partition 0: its new records are not sent.
	req := incr(12, nil)
	ft := kmsg.NewFetchRequestForgottenTopic()
	ft.Topic, ft.Partitions = topic, []int32{0}
	req.ForgottenTopics = append(req.ForgottenTopics, ft)
	sessFetch(t, c, req, sid, 5)
	produceBatches(t, c, topic, 0, 1, 2, "d")
	produceBatches(t, c, topic, 1, 1, 2, "e")
	got = partsIn(sessFetch(t, c, incr(12, nil), sid, 6))
	if _, ok := got[0]; ok || len(got) != 1 || len(decodeBatches(t, got[1].RecordBatches)) != 2 {
		t.Fatalf("after forgetting partition 0: %+v", got)
	}

	// A long poll in a session wakes on new data for a session partition.
	req = incr(12, map[int32]int64{1: 7})
	req.MaxWaitMillis = 5000
	start := time.Now()
	done := make(chan *kmsg.FetchResponse, 1)
	c2 := dialRaw(t, b.Addr())
	go func() {
		req.SessionID, req.SessionEpoch = sid, 7
		r, err := c2.request(req)
		if err != nil {
			t.Error(err)
			done <- nil
			return
		}
		done <- r.(*kmsg.FetchResponse)
	}()
	time.Sleep(100 * time.Millisecond)
	// While it waits, the session refuses another request.
	resp = sessFetch(t, c, incr(12, nil), sid, 8)
	wantCode(t, "session in use", resp.ErrorCode, kerr.InvalidFetchSessionEpoch)
	produceBatches(t, c, topic, 1, 1, 1, "f")
	r := <-done
	if r == nil {
		t.FailNow()
	}
	if got := partsIn(r); len(got) != 1 || len(decodeBatches(t, got[1].RecordBatches)) != 1 || time.Since(start) > 4*time.Second {
		t.Fatalf("long poll in a session: %+v after %v", got, time.Since(start))
	}

	// Topic ids (v13+): a second session.
	resp = sessFetch(t, c, full(13, 0, 0, 0), 0, 0)
	sid2 := resp.SessionID
	if resp.ErrorCode != 0 || sid2 == 0 || sid2 == sid || len(partsIn(resp)) != 3 || resp.Topics[0].TopicID != id {
		t.Fatalf("v13 session: error %s, id %d (first %d), %d partitions", errName(resp.ErrorCode), sid2, sid, len(partsIn(resp)))
	}
	got = partsIn(sessFetch(t, c, incr(13, map[int32]int64{0: 12, 1: 8, 2: 3}), sid2, 1))
	if len(got) != 0 {
		t.Fatalf("v13 session caught up: %+v", got)
	}

	// The cache holds 2 sessions, both recently used: a third client
	// is served without a session.
	resp = sessFetch(t, c, full(12, 0, 0, 0), 0, 0)
	if resp.ErrorCode != 0 || resp.SessionID != 0 || len(partsIn(resp)) != 3 {
		t.Fatalf("full cache: error %s, id %d, %d partitions", errName(resp.ErrorCode), resp.SessionID, len(partsIn(resp)))
	}

	// Closing (epoch -1) frees the session: a full fetch answers.
	resp = sessFetch(t, c, full(12, 5, 0, 0), sid, -1)
	if resp.ErrorCode != 0 || resp.SessionID != 0 || len(partsIn(resp)) != 3 {
		t.Fatalf("close: error %s, id %d, %d partitions", errName(resp.ErrorCode), resp.SessionID, len(partsIn(resp)))
	}
	resp = sessFetch(t, c, incr(12, nil), sid, 9)
	wantCode(t, "closed session", resp.ErrorCode, kerr.FetchSessionIDNotFound)

	// Old versions have no sessions: full answers.
	resp = c.must(full(6, 0, 0, 0)).(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 || len(partsIn(resp)) != 3 {
		t.Fatalf("v6: error %s, %d partitions", errName(resp.ErrorCode), len(partsIn(resp)))
	}
}

// TestFetchSessionsOff: with sessions disabled a client asking for one is
// answered without one (id 0) and keeps working with full requests.
func TestFetchSessionsOff(t *testing.T) {
	b := weirtest.Start(t, weirtest.WithConfig(func(c *broker.Config) { c.FetchSessionSlots = -1 }))
	adm := kadm.NewClient(newClient(t, b.Addr()))
	c := dialRaw(t, b.Addr())
	id := createTopic(t, adm, "nosessions", 1, nil)
	produceBatches(t, c, "nosessions", 0, 1, 3, "a")
	req := fetchReq(12, "nosessions", id, 0, 0, 0, 1, 1<<20, 1<<20)
	resp := sessFetch(t, c, req, 0, 0)
	if resp.ErrorCode != 0 || resp.SessionID != 0 || len(partsIn(resp)) != 1 {
		t.Fatalf("sessions off: error %s, id %d", errName(resp.ErrorCode), resp.SessionID)
	}
	resp = sessFetch(t, c, fetchReq(12, "nosessions", id, 0, 0, 0, 1, 1<<20, 1<<20), 1, 1)
	wantCode(t, "sessions off, incremental", resp.ErrorCode, kerr.FetchSessionIDNotFound)
}
