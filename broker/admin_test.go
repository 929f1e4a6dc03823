package broker_test

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/weirhq/weir/batch"
	"github.com/weirhq/weir/broker"
	"github.com/weirhq/weir/weirtest"
)

func sp(s string) *string { return &s }

// topicConfigs describes a topic's configs by name.
func topicConfigs(t *testing.T, adm *kadm.Client, topic string) map[string]kadm.Config {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		t.Fatalf("describe configs of %s: %v", topic, err)
	}
	m := map[string]kadm.Config{}
	for _, c := range rc.Configs {
		m[c.Key] = c
	}
	return m
}

func wantConfig(t *testing.T, cs map[string]kadm.Config, key, value string, source kmsg.ConfigSource) {
	t.Helper()
	c, ok := cs[key]
	if !ok {
		t.Fatalf("config %s missing", key)
	}
	if c.MaybeValue() != value || c.Source != source {
		t.Fatalf("config %s = %q (source %v), want %q (source %v)", key, c.MaybeValue(), c.Source, value, source)
	}
}

func TestCreateTopics(t *testing.T) {
	b := weirtest.Start(t, weirtest.WithConfig(func(c *broker.Config) { c.DefaultPartitions = 2 }))
	cl := newClient(t, b.Addr())
	adm := kadm.NewClient(cl)
	ctx := ctxT(t)

	resp, err := adm.CreateTopic(ctx, 3, 1, map[string]*string{"retention.ms": sp("3600000"), "cleanup.policy": sp("compact")}, "created")
	if err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	if resp.NumPartitions != 3 || resp.ReplicationFactor != 1 || resp.ID == ([16]byte{}) {
		t.Fatalf("create response %+v", resp)
	}
	td, err := adm.ListTopics(ctx, "created")
	if err != nil || len(td["created"].Partitions) != 3 || td["created"].ID != resp.ID {
		t.Fatalf("metadata after create: %v %+v", err, td["created"])
	}
	cs := topicConfigs(t, adm, "created")
	wantConfig(t, cs, "retention.ms", "3600000", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, cs, "cleanup.policy", "compact", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, cs, "segment.bytes", "1073741824", kmsg.ConfigSourceDefaultConfig)

	// -1 partitions and replication factor: broker defaults.
	resp, err = adm.CreateTopic(ctx, -1, -1, nil, "defaulted")
	if err != nil || resp.Err != nil || resp.NumPartitions != 2 {
		t.Fatalf("create with defaults: %v %+v", err, resp)
	}

	// validate_only creates nothing.
	vresp, err := adm.ValidateCreateTopics(ctx, 4, 1, nil, "validated")
	if err != nil || vresp["validated"].Err != nil || vresp["validated"].NumPartitions != 4 {
		t.Fatalf("validate only: %v %+v", err, vresp["validated"])
	}
	if _, err := os.Stat(filepath.Join(b.DataDir(), "validated-0")); !os.IsNotExist(err) {
		t.Fatalf("validate only made a partition directory: %v", err)
	}
	td, _ = adm.ListTopics(ctx)
	if td.Has("validated") {
		t.Fatal("validate only created the topic")
	}
	vresp, _ = adm.ValidateCreateTopics(ctx, 1, 1, nil, "created")
	if !errors.Is(vresp["created"].Err, kerr.TopicAlreadyExists) {
		t.Fatalf("validate only of an existing topic: %v", vresp["created"].Err)
	}

	for _, tc := range []struct {
		name    string
		parts   int32
		rf      int16
		configs map[string]*string
		want    *kerr.Error
	}{
		{"created", 1, 1, nil, kerr.TopicAlreadyExists},
		{"bad name!", 1, 1, nil, kerr.InvalidTopicException},
		{"..", 1, 1, nil, kerr.InvalidTopicException},
		{strings.Repeat("x", 250), 1, 1, nil, kerr.InvalidTopicException},
		{"created_", 1, 1, nil, nil},
		{"collides.", 1, 1, nil, nil}, // created below, then "collides_" collides
		{"collides_", 1, 1, nil, kerr.InvalidTopicException},
		{"rf3", 1, 3, nil, kerr.InvalidReplicationFactor},
		{"zero-parts", 0, 1, nil, kerr.InvalidPartitions},
		{"bad-value", 1, 1, map[string]*string{"retention.ms": sp("soon")}, kerr.InvalidConfig},
		{"bad-value2", 1, 1, map[string]*string{"segment.bytes": sp("10")}, kerr.InvalidConfig},
		{"bad-value3", 1, 1, map[string]*string{"message.timestamp.type": sp("Whenever")}, kerr.InvalidConfig},
		{"bad-value4", 1, 1, map[string]*string{"cleanup.policy": sp("shred")}, kerr.InvalidConfig},
		{"unknown-key", 1, 1, map[string]*string{"no.such.config": sp("1")}, kerr.InvalidConfig},
		{"null-value", 1, 1, map[string]*string{"retention.ms": nil}, kerr.InvalidConfig},
	} {
		resp, err := adm.CreateTopic(ctx, tc.parts, tc.rf, tc.configs, tc.name)
		if err == nil {
			err = resp.Err
		}
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Fatalf("create %q: %v, want %v", tc.name, err, tc.want)
		}
	}
	for _, name := range []string{"rf3", "bad-value", "unknown-key", "zero-parts"} {
		if _, err := os.Stat(filepath.Join(b.DataDir(), name+"-0")); !os.IsNotExist(err) {
			t.Fatalf("refused topic %s left a directory: %v", name, err)
		}
	}

	// The same topic twice in one request.
	req := kmsg.NewPtrCreateTopicsRequest()
	for i := 0; i < 2; i++ {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic = "twice"
		rt.NumPartitions, rt.ReplicationFactor = 1, 1
		req.Topics = append(req.Topics, rt)
	}
	cr, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range cr.Topics {
		wantCode(t, "topic twice in one request", rt.ErrorCode, kerr.InvalidRequest)
	}

	// Manual assignment onto this broker; onto another is refused.
	req = kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic = "assigned"
	rt.NumPartitions, rt.ReplicationFactor = -1, -1
	for p := int32(0); p < 2; p++ {
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Partition, a.Replicas = p, []int32{1}
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
	}
	req.Topics = append(req.Topics, rt)
	rt.Topic = "assigned-elsewhere"
	rt.ReplicaAssignment = []kmsg.CreateTopicsRequestTopicReplicaAssignment{{Partition: 0, Replicas: []int32{2}}}
	req.Topics = append(req.Topics, rt)
	cr, err = req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if cr.Topics[0].ErrorCode != 0 || cr.Topics[0].NumPartitions != 2 {
		t.Fatalf("manual assignment: %s, %d partitions", errName(cr.Topics[0].ErrorCode), cr.Topics[0].NumPartitions)
	}
	wantCode(t, "assignment to another broker", cr.Topics[1].ErrorCode, kerr.InvalidReplicaAssignment)
}

func TestDeleteTopics(t *testing.T) {
	b := weirtest.Start(t)
	cl := newClient(t, b.Addr())
	adm := kadm.NewClient(cl)
	ctx := ctxT(t)
	c := dialRaw(t, b.Addr())
	for _, name := range []string{"del-by-name", "del-by-id"} {
		createTopic(t, adm, name, 2, nil)
		produceBatches(t, c, name, 1, 3, 5, "x")
	}
	idByID := topicID(t, adm, "del-by-id")

	dr, err := adm.DeleteTopics(ctx, "del-by-name")
	if err != nil || dr["del-by-name"].Err != nil {
		t.Fatalf("delete by name: %v %v", err, dr["del-by-name"].Err)
	}
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.Version = 6
	req.TimeoutMillis = 5000
	dt := kmsg.NewDeleteTopicsRequestTopic()
	dt.TopicID = idByID
	req.Topics = append(req.Topics, dt)
	dt = kmsg.NewDeleteTopicsRequestTopic()
	dt.TopicID = [16]byte{9, 9, 9}
	req.Topics = append(req.Topics, dt)
	resp := c.must(req).(*kmsg.DeleteTopicsResponse)
	if resp.Topics[0].ErrorCode != 0 || resp.Topics[0].Topic == nil || *resp.Topics[0].Topic != "del-by-id" {
		t.Fatalf("delete by id: %s %v", errName(resp.Topics[0].ErrorCode), resp.Topics[0].Topic)
	}
	wantCode(t, "delete an unknown id", resp.Topics[1].ErrorCode, kerr.UnknownTopicID)
	dr, _ = adm.DeleteTopics(ctx, "del-by-name")
	if !errors.Is(dr["del-by-name"].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("deleting twice: %v", dr["del-by-name"].Err)
	}

	for _, name := range []string{"del-by-name", "del-by-id"} {
		for p := 0; p < 2; p++ {
			if _, err := os.Stat(filepath.Join(b.DataDir(), fmt.Sprintf("%s-%d", name, p))); !os.IsNotExist(err) {
				t.Fatalf("%s-%d: data directory still there (%v)", name, p, err)
			}
		}
		// Producing and fetching fail; metadata (without auto-creation)
		// says unknown.
		p := c.produceOne(9, name, [16]byte{}, 1, newBatch(t, batch.BuilderOptions{}, 1, "late", 0))
		wantCode(t, "produce to deleted "+name, p.ErrorCode, kerr.UnknownTopicOrPartition)
		f := c.fetchOne(fetchReq(12, name, [16]byte{}, 1, 0, 0, 1, 1<<20, 1<<20))
		wantCode(t, "fetch from deleted "+name, f.ErrorCode, kerr.UnknownTopicOrPartition)
		mreq := kmsg.NewPtrMetadataRequest()
		mreq.Version = 12
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = sp(name)
		mreq.Topics = append(mreq.Topics, mt)
		mreq.AllowAutoTopicCreation = false
		mresp := c.must(mreq).(*kmsg.MetadataResponse)
		wantCode(t, "metadata of deleted "+name, mresp.Topics[0].ErrorCode, kerr.UnknownTopicOrPartition)
	}
	p := c.produceOne(13, "", idByID, 0, newBatch(t, batch.BuilderOptions{}, 1, "late", 0))
	wantCode(t, "produce by deleted id", p.ErrorCode, kerr.UnknownTopicID)
	f := c.fetchOne(fetchReq(13, "", idByID, 0, 0, 0, 1, 1<<20, 1<<20))
	wantCode(t, "fetch by deleted id", f.ErrorCode, kerr.UnknownTopicID)

	// Deleted topics stay deleted after a restart, and the name can be
	// reused with a new id and no old data.
	b.Restart()
	td, err := adm.ListTopics(ctx)
	if err != nil || td.Has("del-by-name") || td.Has("del-by-id") {
		t.Fatalf("after restart: %v %v", err, td.Names())
	}
	newID := createTopic(t, adm, "del-by-id", 2, nil)
	if newID == idByID {
		t.Fatal("recreated topic has the old id")
	}
	c = dialRaw(t, b.Addr())
	if end := c.endOffset("del-by-id", 1); end != 0 {
		t.Fatalf("recreated topic has end offset %d", end)
	}
}

// TestDeleteTopicDuringFetch deletes a topic while a fetch long-polls it:
// the fetch completes (with an error for the partition, never a hang).
func TestDeleteTopicDuringFetch(t *testing.T) {
	b := weirtest.Start(t)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	id := createTopic(t, adm, "doomed", 1, nil)
	c := dialRaw(t, b.Addr())
	req := fetchReq(12, "doomed", id, 0, 0, 1000, 1, 1<<20, 1<<20)
	corr, err := c.send(req)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if dr, err := adm.DeleteTopics(ctxT(t), "doomed"); err != nil || dr["doomed"].Err != nil {
		t.Fatalf("delete: %v %+v", err, dr)
	}
	resp, err := c.recv(req, corr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if len(p.RecordBatches) != 0 {
		t.Fatalf("fetch of a deleted topic returned %d bytes", len(p.RecordBatches))
	}
	if p.ErrorCode != 0 && p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("fetch of a deleted topic: %s, want none or UNKNOWN_TOPIC_OR_PARTITION", errName(p.ErrorCode))
	}
}

func TestCreatePartitions(t *testing.T) {
	b := weirtest.Start(t)
	cl := newClient(t, b.Addr())
	adm := kadm.NewClient(cl)
	ctx := ctxT(t)
	createTopic(t, adm, "grow", 2, nil)
	if r, err := adm.ValidateCreatePartitions(ctx, 2, "grow"); err != nil || r["grow"].Err != nil {
		t.Fatalf("validate grow: %v %+v", err, r)
	}
	if td, _ := adm.ListTopics(ctx, "grow"); len(td["grow"].Partitions) != 2 {
		t.Fatal("validate only grew the topic")
	}
	if r, err := adm.CreatePartitions(ctx, 2, "grow"); err != nil || r["grow"].Err != nil {
		t.Fatalf("grow: %v %+v", err, r)
	}
	for _, set := range []int{4, 3} {
		r, err := adm.UpdatePartitions(ctx, set, "grow")
		if err != nil || !errors.Is(r["grow"].Err, kerr.InvalidPartitions) {
			t.Fatalf("set to %d partitions: %v %+v, want INVALID_PARTITIONS", set, err, r)
		}
	}
	r, _ := adm.CreatePartitions(ctx, 1, "no-such-topic")
	if !errors.Is(r["no-such-topic"].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("grow an unknown topic: %+v", r)
	}
	td, err := adm.ListTopics(ctx, "grow")
	if err != nil || len(td["grow"].Partitions) != 4 {
		t.Fatalf("after grow: %v %d partitions", err, len(td["grow"].Partitions))
	}
	c := dialRaw(t, b.Addr())
	produceBatches(t, c, "grow", 3, 1, 2, "new")
	// The config still applies, and the new partitions survive a restart.
	b.Restart()
	td, err = adm.ListTopics(ctx, "grow")
	if err != nil || len(td["grow"].Partitions) != 4 {
		t.Fatalf("after restart: %v %d partitions", err, len(td["grow"].Partitions))
	}
	c = dialRaw(t, b.Addr())
	if end := c.endOffset("grow", 3); end != 2 {
		t.Fatalf("new partition end offset %d after restart, want 2", end)
	}
}

func TestDescribeConfigs(t *testing.T) {
	b := weirtest.Start(t, weirtest.WithConfig(func(c *broker.Config) { c.NodeID = 7; c.MessageMaxBytes = 500000 }))
	cl := newClient(t, b.Addr())
	adm := kadm.NewClient(cl)
	ctx := ctxT(t)
	createTopic(t, adm, "described", 1, map[string]*string{"max.message.bytes": sp("12345"), "compression.type": sp("zstd")})
	cs := topicConfigs(t, adm, "described")
	wantConfig(t, cs, "max.message.bytes", "12345", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, cs, "compression.type", "zstd", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, cs, "message.timestamp.type", "CreateTime", kmsg.ConfigSourceDefaultConfig)
	wantConfig(t, cs, "min.insync.replicas", "1", kmsg.ConfigSourceDefaultConfig)
	wantConfig(t, cs, "retention.bytes", "-1", kmsg.ConfigSourceDefaultConfig)
	wantConfig(t, cs, "retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig)
	wantConfig(t, cs, "segment.ms", "604800000", kmsg.ConfigSourceDefaultConfig)

	createTopic(t, adm, "defaults", 1, nil)
	cs = topicConfigs(t, adm, "defaults")
	wantConfig(t, cs, "max.message.bytes", "500000", kmsg.ConfigSourceDefaultConfig)

	rcs, err := adm.DescribeBrokerConfigs(ctx, 7)
	if err != nil || len(rcs) != 1 || rcs[0].Err != nil {
		t.Fatalf("describe broker: %v %+v", err, rcs)
	}
	bc := map[string]string{}
	for _, c := range rcs[0].Configs {
		bc[c.Key] = c.MaybeValue()
	}
	if bc["message.max.bytes"] != "500000" || bc["node.id"] != "7" || bc["log.dirs"] != b.DataDir() {
		t.Fatalf("broker configs %v", bc)
	}

	// Specific names, synonyms, an unknown topic, another broker.
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.Version = 4
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType = kmsg.ConfigResourceTypeTopic
	r.ResourceName = "described"
	r.ConfigNames = []string{"max.message.bytes", "retention.ms"}
	req.Resources = append(req.Resources, r)
	r.ResourceName = "no-such-topic"
	req.Resources = append(req.Resources, r)
	r = kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType = kmsg.ConfigResourceTypeBroker
	r.ResourceName = "3"
	req.Resources = append(req.Resources, r)
	req.IncludeSynonyms = true
	resp := dialRaw(t, b.Addr()).must(req).(*kmsg.DescribeConfigsResponse) // kgo would route "3" to broker 3
	if got := resp.Resources[0]; got.ErrorCode != 0 || len(got.Configs) != 2 {
		t.Fatalf("named configs: %+v", got)
	}
	// Synonyms as Kafka lists them: the topic's override, then the broker
	// default under the broker config's name.
	type syn struct {
		name, value string
		source      kmsg.ConfigSource
	}
	for i, want := range [][]syn{
		{{"max.message.bytes", "12345", kmsg.ConfigSourceDynamicTopicConfig}, {"message.max.bytes", "500000", kmsg.ConfigSourceDefaultConfig}},
		{{"log.retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig}},
	} {
		var got []syn
		for _, s := range resp.Resources[0].Configs[i].ConfigSynonyms {
			got = append(got, syn{s.Name, *s.Value, s.Source})
		}
		if !slices.Equal(got, want) {
			t.Errorf("synonyms of %s: %v, want %v", resp.Resources[0].Configs[i].Name, got, want)
		}
	}
	wantCode(t, "describe unknown topic", resp.Resources[1].ErrorCode, kerr.UnknownTopicOrPartition)
	if resp.Resources[2].ErrorCode == 0 {
		t.Fatal("describing another broker succeeded")
	}
}

func TestIncrementalAlterConfigs(t *testing.T) {
	b := weirtest.Start(t)
	cl := newClient(t, b.Addr())
	adm := kadm.NewClient(cl)
	ctx := ctxT(t)
	const topic = "altered"
	id := createTopic(t, adm, topic, 1, nil)
	alter := func(cfgs ...kadm.AlterConfig) error {
		t.Helper()
		r, err := adm.AlterTopicConfigs(ctx, cfgs, topic)
		if err != nil {
			return err
		}
		return r[0].Err
	}
	set := map[string]string{
		"retention.ms": "3600000", "retention.bytes": "1048576", "segment.bytes": "1048576",
		"segment.ms": "600000", "max.message.bytes": "2000", "cleanup.policy": "delete",
		"message.timestamp.type": "LogAppendTime", "min.insync.replicas": "1",
	}
	var ops []kadm.AlterConfig
	for k, v := range set {
		ops = append(ops, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: sp(v)})
	}
	// validate_only first: nothing changes.
	vr, err := adm.ValidateAlterTopicConfigs(ctx, ops, topic)
	if err != nil || vr[0].Err != nil {
		t.Fatalf("validate: %v %+v", err, vr)
	}
	if cs := topicConfigs(t, adm, topic); cs["retention.ms"].Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatal("validate only changed the config")
	}
	if err := alter(ops...); err != nil {
		t.Fatal(err)
	}
	check := func() {
		t.Helper()
		cs := topicConfigs(t, adm, topic)
		for k, v := range set {
			wantConfig(t, cs, k, v, kmsg.ConfigSourceDynamicTopicConfig)
		}
	}
	check()

	// APPEND and SUBTRACT on the list config.
	if err := alter(kadm.AlterConfig{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: sp("compact")}); err != nil {
		t.Fatal(err)
	}
	wantConfig(t, topicConfigs(t, adm, topic), "cleanup.policy", "delete,compact", kmsg.ConfigSourceDynamicTopicConfig)
	if err := alter(kadm.AlterConfig{Op: kadm.SubtractConfig, Name: "cleanup.policy", Value: sp("delete")}); err != nil {
		t.Fatal(err)
	}
	wantConfig(t, topicConfigs(t, adm, topic), "cleanup.policy", "compact", kmsg.ConfigSourceDynamicTopicConfig)
	if err := alter(kadm.AlterConfig{Op: kadm.SubtractConfig, Name: "cleanup.policy", Value: sp("compact")}); !errors.Is(err, kerr.InvalidConfig) {
		t.Fatalf("subtracting the last policy: %v", err)
	}
	if err := alter(kadm.AlterConfig{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: sp("delete")}); err != nil {
		t.Fatal(err)
	}
	set["cleanup.policy"] = "compact,delete"
	check()
	// APPEND/SUBTRACT on scalar configs, bad values, unknown keys, an
	// unknown topic, the broker: refused, nothing changes.
	for _, op := range []kadm.AlterConfig{
		{Op: kadm.AppendConfig, Name: "retention.ms", Value: sp("1")},
		{Op: kadm.SubtractConfig, Name: "retention.bytes", Value: sp("1")},
		{Op: kadm.SetConfig, Name: "retention.ms", Value: sp("-5")},
		{Op: kadm.SetConfig, Name: "segment.bytes", Value: sp("x")},
		{Op: kadm.SetConfig, Name: "min.insync.replicas", Value: sp("0")},
		{Op: kadm.SetConfig, Name: "no.such.config", Value: sp("1")},
	} {
		if err := alter(op); !errors.Is(err, kerr.InvalidConfig) {
			t.Fatalf("%+v: %v, want INVALID_CONFIG", op, err)
		}
	}
	check()
	if r, _ := adm.AlterTopicConfigs(ctx, ops[:1], "no-such-topic"); len(r) != 1 || !errors.Is(r[0].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("alter an unknown topic: %+v", r)
	}
	if r, _ := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "message.max.bytes", Value: sp("10")}}, 1); len(r) != 1 || r[0].Err == nil {
		t.Fatalf("alter broker config: %+v", r)
	}

	// The values survive a restart.
	b.Restart()
	check()

	// max.message.bytes is enforced.
	c := dialRaw(t, b.Addr())
	before := c.endOffset(topic, 0)
	big := newBatch(t, batch.BuilderOptions{}, 1, strings.Repeat("x", 3000), 0)
	p := c.produceOne(9, topic, id, 0, big)
	wantCode(t, "batch above max.message.bytes", p.ErrorCode, kerr.MessageTooLarge)
	pcl := newClient(t, b.Addr(), kgo.DefaultProduceTopic(topic))
	incompressible := make([]byte, 3000)
	rand.Read(incompressible)
	err = pcl.ProduceSync(ctx, &kgo.Record{Value: incompressible}).FirstErr()
	if !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("kgo produce above max.message.bytes: %v", err)
	}
	if end := c.endOffset(topic, 0); end != before {
		t.Fatalf("end offset %d after refused batches, want %d", end, before)
	}

	// LogAppendTime: the broker's time in the produce response and in the
	// records consumed.
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	start := time.Now().UnixMilli()
	p = c.produceOne(9, topic, id, 0, newBatch(t, batch.BuilderOptions{}, 3, "lat", old))
	end := time.Now().UnixMilli()
	if p.ErrorCode != 0 || p.LogAppendTime < start || p.LogAppendTime > end {
		t.Fatalf("LogAppendTime produce: %s, log_append_time %d, want in [%d, %d]", errName(p.ErrorCode), p.LogAppendTime, start, end)
	}
	ccl := newClient(t, b.Addr(), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().At(p.BaseOffset)))
	var got []*kgo.Record
	for len(got) < 3 {
		fs := ccl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal(ctx.Err())
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatal(err) })
		got = append(got, fs.Records()...)
	}
	for _, r := range got {
		if r.Timestamp.UnixMilli() != p.LogAppendTime || r.Attrs.TimestampType() != 1 {
			t.Fatalf("consumed record %d: timestamp %v (type %d), want the log append time %d", r.Offset, r.Timestamp.UnixMilli(), r.Attrs.TimestampType(), p.LogAppendTime)
		}
	}
	// The stored batch is still valid (CRC rewritten).
	f := c.fetchOne(fetchReq(12, topic, id, 0, p.BaseOffset, 0, 1, 1<<20, 1<<20))
	if recs := decodeBatches(t, f.RecordBatches); len(recs) != 3 || !recs[0].LogAppend {
		t.Fatalf("fetched %+v", recs)
	}

	// segment.bytes applies: small batches roll segments.
	for i := 0; i < 30; i++ {
		produceBatches(t, c, topic, 0, 1, 10, strings.Repeat("s", 100))
	}
	if err := alter(kadm.AlterConfig{Op: kadm.SetConfig, Name: "segment.bytes", Value: sp("16384")}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 30; i++ {
		produceBatches(t, c, topic, 0, 1, 10, strings.Repeat("s", 100))
	}
	logs, _ := filepath.Glob(filepath.Join(b.DataDir(), topic+"-0", "*.log"))
	if len(logs) < 2 {
		t.Fatalf("%d segments after writing past segment.bytes", len(logs))
	}

	// DELETE returns every config to its default.
	ops = ops[:0]
	for k := range set {
		ops = append(ops, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
	}
	if err := alter(ops...); err != nil {
		t.Fatal(err)
	}
	cs := topicConfigs(t, adm, topic)
	for k := range set {
		if cs[k].Source != kmsg.ConfigSourceDefaultConfig {
			c := cs[k]
			t.Fatalf("%s after DELETE: %q from source %v", k, c.MaybeValue(), c.Source)
		}
	}
	wantConfig(t, cs, "message.timestamp.type", "CreateTime", kmsg.ConfigSourceDefaultConfig)
	if p := c.produceOne(9, topic, id, 0, big); p.ErrorCode != 0 || p.LogAppendTime != -1 {
		t.Fatalf("after DELETE: %s, log append time %d", errName(p.ErrorCode), p.LogAppendTime)
	}
	b.Restart()
	cs = topicConfigs(t, adm, topic)
	wantConfig(t, cs, "max.message.bytes", "1048588", kmsg.ConfigSourceDefaultConfig)
}

func TestListOffsets(t *testing.T) {
	b := weirtest.Start(t)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	const topic = "listed"
	id := createTopic(t, adm, topic, 1, nil)
	c := dialRaw(t, b.Addr())

	// Empty partition.
	for _, ts := range []int64{-2, -1, -3, 0} {
		p := c.listOffset(topic, 0, ts)
		want := int64(0)
		if ts == -3 || ts == 0 {
			want = -1
		}
		if p.ErrorCode != 0 || p.Offset != want {
			t.Fatalf("empty, timestamp %d: %s offset %d, want %d", ts, errName(p.ErrorCode), p.Offset, want)
		}
	}
	// Batches with timestamps 1000.., 5000.., 2000..: the max timestamp
	// is in the middle batch.
	for _, base := range []int64{1000, 5000, 2000} {
		if p := c.produceOne(9, topic, id, 0, newBatch(t, batch.BuilderOptions{}, 3, fmt.Sprint(base), base)); p.ErrorCode != 0 {
			t.Fatal(errName(p.ErrorCode))
		}
	}
	for _, tc := range []struct{ ts, off, rts int64 }{
		{-2, 0, -1},
		{-1, 9, -1},
		{-3, 5, 5002},
		{-4, 0, -1},
		{0, 0, 1000},
		{1001, 1, 1001},
		{1003, 3, 5000},
		{5002, 5, 5002},
		{5003, -1, -1},
	} {
		p := c.listOffset(topic, 0, tc.ts)
		if p.ErrorCode != 0 || p.Offset != tc.off || tc.rts != -1 && p.Timestamp != tc.rts {
			t.Fatalf("timestamp %d: %s, offset %d timestamp %d, want offset %d timestamp %d", tc.ts, errName(p.ErrorCode), p.Offset, p.Timestamp, tc.off, tc.rts)
		}
	}
	lo, err := adm.ListOffsetsAfterMilli(ctxT(t), 1500, topic)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := lo.Lookup(topic, 0); o.Err != nil || o.Offset != 3 {
		t.Fatalf("kadm offset after 1500: %+v", o)
	}
	p := c.listOffset(topic, 9, -1)
	wantCode(t, "unknown partition", p.ErrorCode, kerr.UnknownTopicOrPartition)
	p = c.listOffset("no-such-topic", 0, -1)
	wantCode(t, "unknown topic", p.ErrorCode, kerr.UnknownTopicOrPartition)
}

func TestOffsetForLeaderEpoch(t *testing.T) {
	b := weirtest.Start(t)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	c := dialRaw(t, b.Addr())
	createTopic(t, adm, "epochs", 1, nil)
	produceBatches(t, c, "epochs", 0, 2, 5, "e")
	for v := int16(2); v <= 4; v++ {
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		req.Version = v
		req.ReplicaID = -1
		for _, topic := range []string{"epochs", "no-such-topic"} {
			rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
			rt.Topic = topic
			for _, tc := range []struct{ cur, epoch int32 }{{-1, 0}, {0, 0}, {1, 0}, {-1, 3}} {
				rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
				rp.Partition = 0
				rp.CurrentLeaderEpoch = tc.cur
				rp.LeaderEpoch = tc.epoch
				rt.Partitions = append(rt.Partitions, rp)
			}
			req.Topics = append(req.Topics, rt)
		}
		resp := c.must(req).(*kmsg.OffsetForLeaderEpochResponse)
		ps := resp.Topics[0].Partitions
		for i := 0; i < 2; i++ {
			if ps[i].ErrorCode != 0 || ps[i].LeaderEpoch != 0 || ps[i].EndOffset != 10 {
				t.Fatalf("v%d: %+v", v, ps[i])
			}
		}
		wantCode(t, "current epoch ahead", ps[2].ErrorCode, kerr.UnknownLeaderEpoch)
		if ps[3].ErrorCode != 0 || ps[3].EndOffset != -1 || ps[3].LeaderEpoch != -1 {
			t.Fatalf("v%d unknown epoch: %+v", v, ps[3])
		}
		wantCode(t, "unknown topic", resp.Topics[1].Partitions[0].ErrorCode, kerr.UnknownTopicOrPartition)
	}
}

func TestDeleteRecords(t *testing.T) {
	b := weirtest.Start(t)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	ctx := ctxT(t)
	const topic = "trimmed"
	id := createTopic(t, adm, topic, 2, map[string]*string{"segment.bytes": sp("4096")})
	c := dialRaw(t, b.Addr())
	for i := 0; i < 40; i++ {
		produceBatches(t, c, topic, 0, 1, 5, strings.Repeat("d", 50)) // several segments
	}
	segsBefore, _ := filepath.Glob(filepath.Join(b.DataDir(), topic+"-0", "*.log"))

	dr, err := adm.DeleteRecords(ctx, kadm.Offsets{topic: {0: {Topic: topic, Partition: 0, At: 123}}})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := dr.Lookup(topic, 0); r.Err != nil || r.LowWatermark != 123 {
		t.Fatalf("delete records: %+v", r)
	}
	segsAfter, _ := filepath.Glob(filepath.Join(b.DataDir(), topic+"-0", "*.log"))
	if len(segsAfter) >= len(segsBefore) {
		t.Fatalf("%d segments before, %d after deleting records: none removed", len(segsBefore), len(segsAfter))
	}
	check := func() {
		t.Helper()
		if p := c.listOffset(topic, 0, -2); p.Offset != 123 {
			t.Fatalf("earliest offset %d, want 123", p.Offset)
		}
		f := c.fetchOne(fetchReq(12, topic, id, 0, 122, 0, 1, 1<<20, 1<<20))
		wantCode(t, "fetch below the new start", f.ErrorCode, kerr.OffsetOutOfRange)
		if f.LogStartOffset != 123 {
			t.Fatalf("log start offset %d in fetch", f.LogStartOffset)
		}
		f = c.fetchOne(fetchReq(12, topic, id, 0, 123, 0, 1, 1<<20, 1<<20))
		if f.ErrorCode != 0 || len(decodeBatches(t, f.RecordBatches)) == 0 {
			t.Fatalf("fetch at the new start: %s", errName(f.ErrorCode))
		}
	}
	check()
	b.Restart()
	c = dialRaw(t, b.Addr())
	check()

	// Moving backwards is a no-op; beyond the high watermark is refused;
	// -1 means the high watermark; an unknown partition is refused.
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.TimeoutMillis = 5000
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = topic
	for _, tc := range []struct {
		p   int32
		off int64
	}{{0, 50}, {0, 1000}, {1, -1}, {5, 0}} {
		rp := kmsg.NewDeleteRecordsRequestTopicPartition()
		rp.Partition, rp.Offset = tc.p, tc.off
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp := c.must(req).(*kmsg.DeleteRecordsResponse)
	ps := resp.Topics[0].Partitions
	if ps[0].ErrorCode != 0 || ps[0].LowWatermark != 123 {
		t.Fatalf("delete below the start: %s, low watermark %d", errName(ps[0].ErrorCode), ps[0].LowWatermark)
	}
	wantCode(t, "delete beyond the high watermark", ps[1].ErrorCode, kerr.OffsetOutOfRange)
	if ps[2].ErrorCode != 0 || ps[2].LowWatermark != 0 {
		t.Fatalf("delete to the high watermark of an empty partition: %s %d", errName(ps[2].ErrorCode), ps[2].LowWatermark)
	}
	wantCode(t, "delete in an unknown partition", ps[3].ErrorCode, kerr.UnknownTopicOrPartition)

	// Everything: the partition is empty at its end offset, and new
	// records continue from there.
	end := c.endOffset(topic, 0)
	dr, _ = adm.DeleteRecords(ctx, kadm.Offsets{topic: {0: {Topic: topic, Partition: 0, At: -1}}})
	if r, _ := dr.Lookup(topic, 0); r.Err != nil || r.LowWatermark != end {
		t.Fatalf("delete everything: %+v, want low watermark %d", r, end)
	}
	if p := c.produceOne(9, topic, id, 0, newBatch(t, batch.BuilderOptions{}, 1, "after", 0)); p.ErrorCode != 0 || p.BaseOffset != end || p.LogStartOffset != end {
		t.Fatalf("produce after deleting everything: %+v", p)
	}
}

func TestDescribeCluster(t *testing.T) {
	b := weirtest.Start(t, weirtest.WithConfig(func(c *broker.Config) { c.NodeID = 3 }))
	c := dialRaw(t, b.Addr())
	var clusterID string
	for v := int16(0); v <= 2; v++ {
		req := kmsg.NewPtrDescribeClusterRequest()
		req.Version = v
		resp := c.must(req).(*kmsg.DescribeClusterResponse)
		if resp.ErrorCode != 0 || resp.ClusterID == "" || resp.ControllerID != 3 || len(resp.Brokers) != 1 {
			t.Fatalf("v%d: %+v", v, resp)
		}
		br := resp.Brokers[0]
		if br.NodeID != 3 || fmt.Sprintf("%s:%d", br.Host, br.Port) != b.Addr() {
			t.Fatalf("v%d: broker %+v, want %s", v, br, b.Addr())
		}
		clusterID = resp.ClusterID
	}
	// The cluster id is stable across restarts and matches Metadata's.
	b.Restart()
	c = dialRaw(t, b.Addr())
	req := kmsg.NewPtrDescribeClusterRequest()
	req.Version = 1
	if resp := c.must(req).(*kmsg.DescribeClusterResponse); resp.ClusterID != clusterID {
		t.Fatalf("cluster id %q after restart, was %q", resp.ClusterID, clusterID)
	}
	mreq := kmsg.NewPtrMetadataRequest()
	mreq.Version = 12
	if resp := c.must(mreq).(*kmsg.MetadataResponse); resp.ClusterID == nil || *resp.ClusterID != clusterID {
		t.Fatalf("metadata cluster id %v, want %q", resp.ClusterID, clusterID)
	}
}

func metadataFor(c *rawClient, version int16, allowAuto bool, topics ...string) *kmsg.MetadataResponse {
	req := kmsg.NewPtrMetadataRequest()
	req.Version = version
	req.AllowAutoTopicCreation = allowAuto
	for _, tp := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = sp(tp)
		req.Topics = append(req.Topics, rt)
	}
	return c.must(req).(*kmsg.MetadataResponse)
}

func TestMetadataAutoCreate(t *testing.T) {
	t.Run("on", func(t *testing.T) {
		b := weirtest.Start(t, weirtest.WithConfig(func(c *broker.Config) { c.DefaultPartitions = 3 }))
		c := dialRaw(t, b.Addr())
		resp := metadataFor(c, 12, false, "not-asked")
		wantCode(t, "auto-create not allowed by the request", resp.Topics[0].ErrorCode, kerr.UnknownTopicOrPartition)
		resp = metadataFor(c, 12, true, "auto1", "bad name", "auto1")
		if resp.Topics[0].ErrorCode != 0 || len(resp.Topics[0].Partitions) != 3 || resp.Topics[0].TopicID == ([16]byte{}) {
			t.Fatalf("auto-created: %+v", resp.Topics[0])
		}
		var bad bool
		for _, mt := range resp.Topics {
			if *mt.Topic == "bad name" {
				bad = true
				wantCode(t, "auto-create a bad name", mt.ErrorCode, kerr.InvalidTopicException)
			}
		}
		if !bad {
			t.Fatal("no answer for the bad name")
		}
		// Before v4 requests always allow auto-creation.
		if resp := metadataFor(c, 3, false, "auto3"); resp.Topics[0].ErrorCode != 0 || len(resp.Topics[0].Partitions) != 3 {
			t.Fatalf("v3 auto-create: %+v", resp.Topics[0])
		}
		// kgo producing to a new topic creates it.
		cl := newClient(t, b.Addr(), kgo.DefaultProduceTopic("by-producer"), kgo.AllowAutoTopicCreation())
		if err := cl.ProduceSync(ctxT(t), &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("off", func(t *testing.T) {
		b := weirtest.Start(t, weirtest.WithConfig(func(c *broker.Config) { c.NoAutoCreateTopics = true }))
		c := dialRaw(t, b.Addr())
		for _, v := range []int16{1, 3, 4, 12} {
			resp := metadataFor(c, v, true, "never")
			wantCode(t, fmt.Sprintf("v%d with auto-creation off", v), resp.Topics[0].ErrorCode, kerr.UnknownTopicOrPartition)
		}
		if _, err := os.Stat(filepath.Join(b.DataDir(), "never-0")); !os.IsNotExist(err) {
			t.Fatal("topic directory created with auto-creation off")
		}
		cl := newClient(t, b.Addr(), kgo.DefaultProduceTopic("never"), kgo.RecordRetries(2), kgo.RecordDeliveryTimeout(2*time.Second))
		if err := cl.ProduceSync(ctxT(t), &kgo.Record{Value: []byte("x")}).FirstErr(); err == nil {
			t.Fatal("produced to a topic that does not exist")
		}
		// Topic ids in a Metadata request: unknown id.
		req := kmsg.NewPtrMetadataRequest()
		req.Version = 12
		rt := kmsg.NewMetadataRequestTopic()
		rt.TopicID = [16]byte{4, 5, 6}
		req.Topics = append(req.Topics, rt)
		resp := c.must(req).(*kmsg.MetadataResponse)
		wantCode(t, "metadata by unknown id", resp.Topics[0].ErrorCode, kerr.UnknownTopicID)
	})
}

func TestTopicIDsStable(t *testing.T) {
	b := weirtest.Start(t)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	ids := map[string][16]byte{}
	for i := 0; i < 5; i++ {
		name := fmt.Sprintf("stable-%d", i)
		ids[name] = createTopic(t, adm, name, int32(i+1), nil)
	}
	seen := map[[16]byte]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatal("two topics share an id")
		}
		seen[id] = true
	}
	for round := 0; round < 2; round++ {
		b.Restart()
		td, err := adm.ListTopics(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		for name, id := range ids {
			if td[name].ID != id || len(td[name].Partitions) != int(name[len(name)-1]-'0')+1 {
				t.Fatalf("restart %d: %s has id %x and %d partitions, want %x", round, name, td[name].ID, len(td[name].Partitions), id)
			}
		}
	}
}

func TestAPIVersions(t *testing.T) {
	b := weirtest.Start(t)
	want := map[int16][2]int16{0: {0, 13}, 1: {4, 18}, 2: {1, 11}, 3: {0, 13}, 18: {0, 4}}
	checkKeys := func(v int16, keys []kmsg.ApiVersionsResponseApiKey) {
		t.Helper()
		got := map[int16][2]int16{}
		for _, k := range keys {
			got[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
			if req := kmsg.RequestForKey(k.ApiKey); req == nil || k.MaxVersion > req.MaxVersion() || k.MinVersion > k.MaxVersion {
				t.Fatalf("v%d: advertised key %d versions %d-%d", v, k.ApiKey, k.MinVersion, k.MaxVersion)
			}
		}
		for k, r := range want {
			if got[k] != r {
				t.Fatalf("v%d: key %d advertised %v, want %v", v, k, got[k], r)
			}
		}
	}
	for v := int16(0); v <= 4; v++ {
		c := dialRaw(t, b.Addr())
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = v
		req.ClientSoftwareName = "weir-test"
		req.ClientSoftwareVersion = "1.0"
		corr, err := c.send(req)
		if err != nil {
			t.Fatal(err)
		}
		frame, err := c.readFrame(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		// The response header is never flexible: the error code follows
		// the correlation id directly (a tag section would be one 0 byte).
		if int32(binary.BigEndian.Uint32(frame)) != corr || binary.BigEndian.Uint16(frame[4:]) != 0 {
			t.Fatalf("v%d: response starts % x", v, frame[:min(len(frame), 12)])
		}
		resp, err := decodeResponse(req, corr, frame)
		if err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		ar := resp.(*kmsg.ApiVersionsResponse)
		if ar.ErrorCode != 0 {
			t.Fatalf("v%d: %s", v, errName(ar.ErrorCode))
		}
		checkKeys(v, ar.ApiKeys)
		if v >= 3 {
			// Compact array length right after the error code.
			if n, _ := binary.Uvarint(frame[6:]); int(n) != len(ar.ApiKeys)+1 {
				t.Fatalf("v%d: api key array length byte %d for %d keys", v, n, len(ar.ApiKeys))
			}
		}
		// The connection stays usable.
		m := kmsg.NewPtrMetadataRequest()
		m.Version = 12
		c.must(m)
	}
	// A version above ours: a v0 response with UNSUPPORTED_VERSION and the
	// key list; the connection stays open.
	for _, v := range []int16{5, 99, 0x7fff} {
		c := dialRaw(t, b.Addr())
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = 4
		frame := c.f.AppendRequest(nil, req, 77)
		binary.BigEndian.PutUint16(frame[6:], uint16(v))
		if err := c.writeRaw(frame); err != nil {
			t.Fatal(err)
		}
		resp, err := c.readFrame(5 * time.Second)
		if err != nil {
			t.Fatalf("ApiVersions v%d: %v", v, err)
		}
		if binary.BigEndian.Uint32(resp) != 77 || int16(binary.BigEndian.Uint16(resp[4:])) != kerr.UnsupportedVersion.Code {
			t.Fatalf("ApiVersions v%d: response starts % x", v, resp[:min(len(resp), 12)])
		}
		n := int(binary.BigEndian.Uint32(resp[6:]))
		if n < len(want) || len(resp) != 10+6*n {
			t.Fatalf("ApiVersions v%d: %d keys in a %d-byte v0 response", v, n, len(resp))
		}
		v0 := kmsg.NewPtrApiVersionsResponse()
		v0.Version = 0
		if err := v0.ReadFrom(resp[4:]); err != nil {
			t.Fatal(err)
		}
		checkKeys(v, v0.ApiKeys)
		m := kmsg.NewPtrMetadataRequest()
		m.Version = 12
		c.must(m)
	}
	// kgo negotiates from its newest ApiVersions version down.
	cl := newClient(t, b.Addr())
	vs, err := kadm.NewClient(cl).ApiVersions(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	vs.Each(func(bv kadm.BrokerApiVersions) {
		if bv.Err != nil {
			t.Fatal(bv.Err)
		}
		t.Logf("kadm guesses the broker is %s", bv.VersionGuess())
	})
}

// TestDeleteThenRecreate deletes a topic and recreates it under the same
// name at once, from another connection: the new topic starts empty, and
// its data is not removed by the end of the deletion.
func TestDeleteThenRecreate(t *testing.T) {
	b := weirtest.Start(t)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	const topic = "phoenix"
	a, c := dialRaw(t, b.Addr()), dialRaw(t, b.Addr())
	createReq := func() *kmsg.CreateTopicsRequest {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.Version = 7
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic = topic
		rt.NumPartitions, rt.ReplicationFactor = 1, 1
		req.Topics = append(req.Topics, rt)
		return req
	}
	createTopic(t, adm, topic, 1, nil)
	refused := 0
	for round := 0; round < 10; round++ {
		produceBatches(t, a, topic, 0, 3, 10, "old")
		del := kmsg.NewPtrDeleteTopicsRequest()
		del.Version = 5
		del.TopicNames = []string{topic}
		if _, err := a.send(del); err != nil {
			t.Fatal(err)
		}
		// Recreate from the other connection as soon as it is allowed.
		var id [16]byte
		for {
			resp := c.must(createReq()).(*kmsg.CreateTopicsResponse)
			code := resp.Topics[0].ErrorCode
			if code == 0 {
				id = resp.Topics[0].TopicID
				break
			}
			if code != kerr.TopicAlreadyExists.Code {
				t.Fatalf("round %d: recreate: %s", round, errName(code))
			}
			refused++
		}
		if _, err := a.recv(del, a.corr, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		if end := c.endOffset(topic, 0); end != 0 {
			t.Fatalf("round %d: recreated topic has end offset %d: the old data is back", round, end)
		}
		if p := c.produceOne(13, "", id, 0, newBatch(t, batch.BuilderOptions{}, 1, "new", 0)); p.ErrorCode != 0 || p.BaseOffset != 0 {
			t.Fatalf("round %d: produce to the recreated topic: %s at %d", round, errName(p.ErrorCode), p.BaseOffset)
		}
		if _, err := os.Stat(filepath.Join(b.DataDir(), topic+"-0", "00000000000000000000.log")); err != nil {
			t.Fatalf("round %d: the recreated topic's segment is gone: %v", round, err)
		}
	}
	t.Logf("%d creations refused while the topic was being deleted", refused)
	b.Restart()
	c = dialRaw(t, b.Addr())
	if end := c.endOffset(topic, 0); end != 1 {
		t.Fatalf("after restart: end offset %d, want 1", end)
	}
}

// TestConcurrentAdmin grows a topic, changes its configs, produces to it
// and reads its metadata all at once: no change is lost to another, and
// what metadata says matches the disk, before and after a restart.
func TestConcurrentAdmin(t *testing.T) {
	b := weirtest.Start(t)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	const topic = "busy"
	createTopic(t, adm, topic, 1, nil)
	ctx := ctxT(t)
	const grows = 12
	var wg sync.WaitGroup
	errc := make(chan error, 100)
	wg.Add(4)
	go func() { // grow one partition at a time
		defer wg.Done()
		for i := 0; i < grows; i++ {
			r, err := adm.CreatePartitions(ctx, 1, topic)
			if err == nil {
				err = r[topic].Err
			}
			if err != nil {
				errc <- fmt.Errorf("grow %d: %w", i, err)
				return
			}
		}
	}()
	go func() { // change configs
		defer wg.Done()
		for i := 0; i < 2*grows; i++ {
			v := fmt.Sprint(3600000 + i)
			r, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: &v}}, topic)
			if err == nil {
				err = r[0].Err
			}
			if err != nil {
				errc <- fmt.Errorf("alter %d: %w", i, err)
				return
			}
		}
	}()
	go func() { // produce to partition 0 and read metadata
		defer wg.Done()
		c := dialRaw(t, b.Addr())
		for i := 0; i < 2*grows; i++ {
			if p := c.produceOne(9, topic, [16]byte{}, 0, newBatch(t, batch.BuilderOptions{}, 1, "x", 0)); p.ErrorCode != 0 {
				errc <- fmt.Errorf("produce: %s", errName(p.ErrorCode))
				return
			}
			metadataFor(c, 12, false, topic)
		}
	}()
	go func() { // another topic comes and goes
		defer wg.Done()
		for i := 0; i < grows; i++ {
			name := fmt.Sprintf("transient-%d", i%3)
			if r, err := adm.CreateTopic(ctx, 2, 1, nil, name); err != nil || r.Err != nil {
				errc <- fmt.Errorf("create %s: %v %v", name, err, r.Err)
				return
			}
			if r, err := adm.DeleteTopics(ctx, name); err != nil || r[name].Err != nil {
				errc <- fmt.Errorf("delete %s: %v %v", name, err, r[name].Err)
				return
			}
		}
	}()
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		td, err := adm.ListTopics(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(td[topic].Partitions); n != grows+1 {
			t.Fatalf("%s: %d partitions, want %d", when, n, grows+1)
		}
		dirs, _ := filepath.Glob(filepath.Join(b.DataDir(), topic+"-*"))
		if len(dirs) != grows+1 {
			t.Fatalf("%s: %d partition directories, want %d", when, len(dirs), grows+1)
		}
		wantConfig(t, topicConfigs(t, adm, topic), "retention.ms", fmt.Sprint(3600000+2*grows-1), kmsg.ConfigSourceDynamicTopicConfig)
		for i := 0; i < 3; i++ {
			if td, _ := adm.ListTopics(ctx); td.Has(fmt.Sprintf("transient-%d", i)) {
				t.Fatalf("%s: transient-%d still exists", when, i)
			}
		}
	}
	check("before restart")
	b.Restart()
	check("after restart")
}

// TestAlterConfigsLegacy: AlterConfigs (key 33) replaces the whole set of
// overrides.
func TestAlterConfigsLegacy(t *testing.T) {
	b := weirtest.Start(t)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	const topic = "legacy"
	createTopic(t, adm, topic, 1, map[string]*string{"retention.ms": sp("1000000"), "segment.ms": sp("2000000")})
	c := dialRaw(t, b.Addr())
	alter := func(validate bool, kv ...string) int16 {
		req := kmsg.NewPtrAlterConfigsRequest()
		req.Version = 2
		req.ValidateOnly = validate
		r := kmsg.NewAlterConfigsRequestResource()
		r.ResourceType = kmsg.ConfigResourceTypeTopic
		r.ResourceName = topic
		for i := 0; i < len(kv); i += 2 {
			r.Configs = append(r.Configs, kmsg.AlterConfigsRequestResourceConfig{Name: kv[i], Value: sp(kv[i+1])})
		}
		req.Resources = append(req.Resources, r)
		return c.must(req).(*kmsg.AlterConfigsResponse).Resources[0].ErrorCode
	}
	if code := alter(true, "retention.ms", "5"); code != 0 {
		t.Fatal(errName(code))
	}
	wantConfig(t, topicConfigs(t, adm, topic), "retention.ms", "1000000", kmsg.ConfigSourceDynamicTopicConfig)
	if code := alter(false, "retention.ms", "3000000"); code != 0 {
		t.Fatal(errName(code))
	}
	cs := topicConfigs(t, adm, topic)
	wantConfig(t, cs, "retention.ms", "3000000", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, cs, "segment.ms", "604800000", kmsg.ConfigSourceDefaultConfig)
	wantCode(t, "bad value", alter(false, "retention.ms", "x"), kerr.InvalidConfig)
	wantConfig(t, topicConfigs(t, adm, topic), "retention.ms", "3000000", kmsg.ConfigSourceDynamicTopicConfig)
}
