package broker_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/weirhq/weir/batch"
	"github.com/weirhq/weir/broker"
	"github.com/weirhq/weir/protocol"
	"github.com/weirhq/weir/weirtest"
)

// FuzzRequest feeds random and mutated request frames (header and body;
// the harness adds the size prefix) to one broker per fuzz process over
// TCP. The broker must never crash, and after every input a Metadata
// request on a fresh connection must succeed.
//
// The seed corpus in testdata/fuzz/FuzzRequest holds valid requests of
// every API key the broker serves; regenerate it with
//
//	WEIR_WRITE_FUZZ_CORPUS=1 go test ./broker -run TestWriteFuzzCorpus
//
// Run: go test ./broker -run '^$' -fuzz FuzzRequest -fuzztime 60s -fuzzminimizetime 2s
//
// (Each execution is a network round trip, so the default minimization
// budget of 60s per new input leaves the fuzzer mostly minimizing.)
func FuzzRequest(f *testing.F) {
	b := weirtest.Start(f, weirtest.WithConfig(func(c *broker.Config) {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil)) // bad input is logged by design
	}))
	addr := b.Addr()
	inputs := 0
	f.Fuzz(func(t *testing.T, body []byte) {
		if fuzzTooExpensive(body) || fuzzSlowDecode(body) {
			t.Skip()
		}
		inputs++
		if inputs%500 == 0 {
			fuzzCleanup(t, addr)
		}
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)); err != nil {
			t.Fatalf("write: %v", err)
		}
		// One response, a close, or (acks=0, long polls) nothing soon.
		c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		var sz [4]byte
		if _, err := io.ReadFull(c, sz[:]); err == nil {
			n := binary.BigEndian.Uint32(sz[:])
			if n > 64<<20 {
				t.Fatalf("response frame of %d bytes", n)
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.CopyN(io.Discard, c, int64(n)); err != nil {
				t.Fatalf("response cut after its size: %v", err)
			}
		}
		fuzzHealthy(t, addr)
	})
}

// fuzzHealthy sends Metadata on a fresh connection.
func fuzzHealthy(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("broker not accepting connections: %v", err)
	}
	defer c.Close()
	rc := &rawClient{t: t, conn: c, f: kmsg.NewRequestFormatter()}
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 12
	if _, err := rc.request(req); err != nil {
		t.Fatalf("broker unhealthy after the input: metadata: %v", err)
	}
}

// fuzzCleanup deletes the topics inputs created (auto-creation makes one
// per new name), so long runs do not exhaust file descriptors.
func fuzzCleanup(t *testing.T, addr string) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	rc := &rawClient{t: t, conn: c, f: kmsg.NewRequestFormatter()}
	m := kmsg.NewPtrMetadataRequest()
	m.Version = 12
	resp, err := rc.request(m)
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	del := kmsg.NewPtrDeleteTopicsRequest()
	del.Version = 5
	for _, mt := range resp.(*kmsg.MetadataResponse).Topics {
		if mt.Topic != nil && *mt.Topic != "fuzz" && !mt.IsInternal {
			del.TopicNames = append(del.TopicNames, *mt.Topic)
		}
	}
	if len(del.TopicNames) > 0 {
		if _, err := rc.request(del); err != nil {
			t.Fatalf("delete topics: %v", err)
		}
	}
}

// fuzzSlowDecode reports whether kmsg takes pathologically long to decode
// body. franz-go's kmsg (v1.15.0, and upstream as of 2026-08) reads a
// tagged-field count and loops that many times even after the input ran
// out (kmsg/api.go internalReadTags), so a flexible request with a tag
// count near 2^32 costs seconds of CPU on the broker's event loop. That is
// a known, reported problem of the dependency; the fuzzer skips such
// inputs so that it keeps looking for others.
func fuzzSlowDecode(body []byte) bool {
	h, rest, err := protocol.ParseRequestHeader(body)
	if err != nil {
		return false
	}
	req := kmsg.RequestForKey(h.APIKey)
	if req == nil || h.APIVersion < 0 || h.APIVersion > req.MaxVersion() {
		return false
	}
	req.SetVersion(h.APIVersion)
	if !req.IsFlexible() {
		return false
	}
	rest = bytes.Clone(rest)
	done := make(chan struct{})
	go func() {
		defer close(done)
		req.ReadFrom(rest)
	}()
	select {
	case <-done:
		return false
	case <-time.After(200 * time.Millisecond):
		return true
	}
}

// fuzzTooExpensive skips inputs that are valid but would make the broker
// do lots of disk work (thousands of partitions), which is not what the
// fuzzer is looking for.
func fuzzTooExpensive(body []byte) bool {
	if len(body) < 4 {
		return false
	}
	key := int16(binary.BigEndian.Uint16(body))
	version := int16(binary.BigEndian.Uint16(body[2:]))
	if key != 19 && key != 37 {
		return false
	}
	req := kmsg.RequestForKey(key)
	req.SetVersion(version)
	if version < 0 || version > req.MaxVersion() {
		return false
	}
	// Skip the header (v1 or v2) conservatively: try both.
	parts := int64(0)
	ok := false
	for _, skip := range fuzzHeaderLens(body) {
		r := kmsg.RequestForKey(key)
		r.SetVersion(version)
		if r.ReadFrom(body[skip:]) != nil {
			continue
		}
		ok = true
		switch r := r.(type) {
		case *kmsg.CreateTopicsRequest:
			for _, t := range r.Topics {
				parts += int64(max(t.NumPartitions, int32(len(t.ReplicaAssignment)), 1))
			}
		case *kmsg.CreatePartitionsRequest:
			for _, t := range r.Topics {
				parts += int64(max(t.Count, 1))
			}
		}
	}
	return ok && parts > 64
}

// fuzzHeaderLens returns the possible request header lengths of body.
func fuzzHeaderLens(body []byte) []int {
	if len(body) < 10 {
		return nil
	}
	n := 10
	if l := int16(binary.BigEndian.Uint16(body[8:])); l > 0 {
		n += int(l)
	}
	if n > len(body) {
		return nil
	}
	out := []int{n}
	if n < len(body) && body[n] == 0 {
		out = append(out, n+1) // flexible: empty tags
	}
	return out
}

// fuzzSeeds are valid requests of every served API key, at several
// versions.
func fuzzSeeds(tb testing.TB) [][]byte {
	fm := kmsg.NewRequestFormatter(kmsg.FormatterClientID("fuzz"))
	var out [][]byte
	add := func(req kmsg.Request, versions ...int16) {
		for _, v := range versions {
			req.SetVersion(v)
			out = append(out, fm.AppendRequest(nil, req, int32(len(out)+1))[4:])
		}
	}
	topic := "fuzz"
	records := newBatch(tb, batch.BuilderOptions{}, 3, "seed", 1700000000000)
	idem := newBatch(tb, batch.BuilderOptions{Idempotent: true, ProducerID: 0, ProducerEpoch: 0, BaseSequence: 0}, 2, "idem", 1700000000000)

	av := kmsg.NewPtrApiVersionsRequest()
	av.ClientSoftwareName, av.ClientSoftwareVersion = "fuzz", "1"
	add(av, 0, 3, 4)

	md := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = &topic
	md.Topics = []kmsg.MetadataRequestTopic{mt}
	md.AllowAutoTopicCreation = true
	add(md, 0, 1, 4, 9, 12, 13)
	md = kmsg.NewPtrMetadataRequest()
	add(md, 1, 12)

	for _, acks := range []int16{1, -1, 0} {
		add(produceReq(9, topic, [16]byte{}, 0, acks, records), 3, 7, 9)
	}
	add(produceReq(9, topic, [16]byte{}, 1, -1, idem), 9, 11)
	add(produceReq(13, "", [16]byte{1}, 0, 1, records), 13)

	fr := fetchReq(12, topic, [16]byte{}, 0, 0, 10, 1, 1<<20, 1<<20)
	add(fr, 4, 7, 11, 12)
	fr = fetchReq(13, "", [16]byte{1}, 0, 0, 10, 1, 1<<20, 1<<20)
	add(fr, 13, 15, 17, 18)

	lo := kmsg.NewPtrListOffsetsRequest()
	lo.ReplicaID = -1
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = topic
	for _, ts := range []int64{-1, -2, -3, 1700000000001} {
		lp := kmsg.NewListOffsetsRequestTopicPartition()
		lp.Timestamp = ts
		lt.Partitions = append(lt.Partitions, lp)
	}
	lo.Topics = []kmsg.ListOffsetsRequestTopic{lt}
	add(lo, 1, 4, 8, 11)

	ct := kmsg.NewPtrCreateTopicsRequest()
	ctt := kmsg.NewCreateTopicsRequestTopic()
	ctt.Topic = "fuzz-created"
	ctt.NumPartitions, ctt.ReplicationFactor = 2, 1
	v := "3600000"
	ctt.Configs = []kmsg.CreateTopicsRequestTopicConfig{{Name: "retention.ms", Value: &v}}
	ct.Topics = []kmsg.CreateTopicsRequestTopic{ctt}
	add(ct, 2, 5, 7)
	ct.ValidateOnly = true
	add(ct, 4)

	dt := kmsg.NewPtrDeleteTopicsRequest()
	dt.TopicNames = []string{"fuzz-created"}
	add(dt, 1, 4, 5)
	dtt := kmsg.NewDeleteTopicsRequestTopic()
	dtt.TopicID = [16]byte{1}
	dt.Topics = []kmsg.DeleteTopicsRequestTopic{dtt}
	add(dt, 6)

	dr := kmsg.NewPtrDeleteRecordsRequest()
	drt := kmsg.NewDeleteRecordsRequestTopic()
	drt.Topic = topic
	drt.Partitions = []kmsg.DeleteRecordsRequestTopicPartition{{Partition: 0, Offset: 1}}
	dr.Topics = []kmsg.DeleteRecordsRequestTopic{drt}
	add(dr, 0, 2)

	ip := kmsg.NewPtrInitProducerIDRequest()
	add(ip, 0, 2, 4, 5)

	ol := kmsg.NewPtrOffsetForLeaderEpochRequest()
	ol.ReplicaID = -1
	olt := kmsg.NewOffsetForLeaderEpochRequestTopic()
	olt.Topic = topic
	olt.Partitions = []kmsg.OffsetForLeaderEpochRequestTopicPartition{{Partition: 0, CurrentLeaderEpoch: -1, LeaderEpoch: 0}}
	ol.Topics = []kmsg.OffsetForLeaderEpochRequestTopic{olt}
	add(ol, 2, 4)

	dc := kmsg.NewPtrDescribeConfigsRequest()
	dcr := kmsg.NewDescribeConfigsRequestResource()
	dcr.ResourceType = kmsg.ConfigResourceTypeTopic
	dcr.ResourceName = topic
	dc.Resources = []kmsg.DescribeConfigsRequestResource{dcr}
	dcr.ResourceType = kmsg.ConfigResourceTypeBroker
	dcr.ResourceName = "1"
	dc.Resources = append(dc.Resources, dcr)
	dc.IncludeSynonyms = true
	add(dc, 1, 4)

	ac := kmsg.NewPtrAlterConfigsRequest()
	acr := kmsg.NewAlterConfigsRequestResource()
	acr.ResourceType = kmsg.ConfigResourceTypeTopic
	acr.ResourceName = topic
	acr.Configs = []kmsg.AlterConfigsRequestResourceConfig{{Name: "retention.ms", Value: &v}}
	ac.Resources = []kmsg.AlterConfigsRequestResource{acr}
	add(ac, 0, 2)

	ia := kmsg.NewPtrIncrementalAlterConfigsRequest()
	iar := kmsg.NewIncrementalAlterConfigsRequestResource()
	iar.ResourceType = kmsg.ConfigResourceTypeTopic
	iar.ResourceName = topic
	compact := "compact"
	iar.Configs = []kmsg.IncrementalAlterConfigsRequestResourceConfig{
		{Name: "segment.ms", Op: kmsg.IncrementalAlterConfigOpSet, Value: &v},
		{Name: "cleanup.policy", Op: kmsg.IncrementalAlterConfigOpAppend, Value: &compact},
		{Name: "segment.ms", Op: kmsg.IncrementalAlterConfigOpDelete},
	}
	ia.Resources = []kmsg.IncrementalAlterConfigsRequestResource{iar}
	add(ia, 0, 1)

	cp := kmsg.NewPtrCreatePartitionsRequest()
	cpt := kmsg.NewCreatePartitionsRequestTopic()
	cpt.Topic = topic
	cpt.Count = 3
	cp.Topics = []kmsg.CreatePartitionsRequestTopic{cpt}
	add(cp, 0, 3)

	add(kmsg.NewPtrDescribeClusterRequest(), 0, 1, 2)

	// Group coordination.
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKey = "fuzz-group"
	fc.CoordinatorKeys = []string{"fuzz-group"}
	add(fc, 0, 3, 4, 5)
	jg := kmsg.NewPtrJoinGroupRequest()
	jg.Group = "fuzz-group"
	jg.SessionTimeoutMillis = 6000
	jg.RebalanceTimeoutMillis = 100
	jg.ProtocolType = "consumer"
	jg.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0, 1, 0, 0, 0, 1, 0, 4, 'f', 'u', 'z', 'z', 0, 0, 0, 0}}}
	add(jg, 2, 5, 9)
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID = "fuzz-group", "m"
	add(hb, 0, 4)
	lg := kmsg.NewPtrLeaveGroupRequest()
	lg.Group, lg.MemberID = "fuzz-group", "m"
	lg.Members = []kmsg.LeaveGroupRequestMember{{MemberID: "m"}}
	add(lg, 0, 5)
	sg := kmsg.NewPtrSyncGroupRequest()
	sg.Group, sg.MemberID = "fuzz-group", "m"
	add(sg, 0, 5)
	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Groups = []string{"fuzz-group"}
	add(dg, 0, 5)
	add(kmsg.NewPtrListGroupsRequest(), 0, 5)
	oc := kmsg.NewPtrOffsetCommitRequest()
	oc.Group, oc.Generation = "fuzz-group", -1
	oct := kmsg.NewOffsetCommitRequestTopic()
	oct.Topic = topic
	oct.Partitions = []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 1, LeaderEpoch: -1}}
	oc.Topics = []kmsg.OffsetCommitRequestTopic{oct}
	add(oc, 2, 8, 9)
	of := kmsg.NewPtrOffsetFetchRequest()
	of.Group = "fuzz-group"
	of.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "fuzz-group"}}
	add(of, 1, 7, 8, 9)
	dgs := kmsg.NewPtrDeleteGroupsRequest()
	dgs.Groups = []string{"fuzz-group"}
	add(dgs, 0, 2)
	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = "fuzz-group"
	odt := kmsg.NewOffsetDeleteRequestTopic()
	odt.Topic = topic
	odt.Partitions = []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}
	od.Topics = []kmsg.OffsetDeleteRequestTopic{odt}
	add(od, 0)
	return out
}

// TestWriteFuzzCorpus regenerates the committed seed corpus when asked.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("WEIR_WRITE_FUZZ_CORPUS") == "" {
		t.Skip("set WEIR_WRITE_FUZZ_CORPUS=1 to rewrite testdata/fuzz/FuzzRequest")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzRequest")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old, _ := filepath.Glob(filepath.Join(dir, "seed-*"))
	for _, f := range old {
		os.Remove(f)
	}
	for _, s := range fuzzSeeds(t) {
		key := int16(binary.BigEndian.Uint16(s))
		version := int16(binary.BigEndian.Uint16(s[2:]))
		name := fmt.Sprintf("seed-%02d-%s-v%d", key, kmsg.NameForKey(key), version)
		for i := 2; ; i++ {
			if _, err := os.Stat(filepath.Join(dir, name)); os.IsNotExist(err) {
				break
			}
			name = fmt.Sprintf("seed-%02d-%s-v%d-%d", key, kmsg.NameForKey(key), version, i)
		}
		data := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
