package broker_test

// Regression tests for what the Go clients with protocol code of their own
// (IBM/sarama, segmentio/kafka-go) found, at the wire level with the
// request versions those clients send, so that make test guards them
// without the clients (compat/goclients runs the clients themselves).

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/weirhq/weir/weirtest"
)

// sarama below protocol level 1.1 sends DescribeConfigs v0 (for
// ClusterAdmin.DescribeConfig, and ListTopics, which describes every
// topic): the broker must answer it, with IsDefault in place of sources,
// instead of closing the connection.
func TestDescribeConfigsV0(t *testing.T) {
	b := weirtest.Start(t)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	createTopic(t, adm, "old-sarama", 2, map[string]*string{"retention.ms": sp("3600000")})

	c := dialRaw(t, b.Addr())
	av := kmsg.NewPtrApiVersionsRequest()
	for _, k := range c.must(av).(*kmsg.ApiVersionsResponse).ApiKeys {
		if k.ApiKey == 32 && k.MinVersion != 0 {
			t.Fatalf("DescribeConfigs advertised from v%d, want v0", k.MinVersion)
		}
	}

	req := kmsg.NewPtrDescribeConfigsRequest()
	req.Version = 0
	all := kmsg.NewDescribeConfigsRequestResource() // every config (null names)
	all.ResourceType = kmsg.ConfigResourceTypeTopic
	all.ResourceName = "old-sarama"
	named := all
	named.ConfigNames = []string{"retention.ms", "segment.bytes"}
	unknown := all
	unknown.ResourceName = "no-such-topic"
	req.Resources = []kmsg.DescribeConfigsRequestResource{all, named, unknown}
	resp := c.must(req).(*kmsg.DescribeConfigsResponse)
	if len(resp.Resources) != 3 {
		t.Fatalf("%d resources in the response, want 3", len(resp.Resources))
	}
	type entry struct {
		value              string
		isDefault, ro, sen bool
	}
	entries := func(r kmsg.DescribeConfigsResponseResource) map[string]entry {
		t.Helper()
		if r.ErrorCode != 0 || r.ResourceName != "old-sarama" || r.ResourceType != kmsg.ConfigResourceTypeTopic {
			t.Fatalf("resource %s: %s", r.ResourceName, errName(r.ErrorCode))
		}
		m := map[string]entry{}
		for _, c := range r.Configs {
			if c.Value == nil {
				t.Fatalf("config %s: null value", c.Name)
			}
			m[c.Name] = entry{*c.Value, c.IsDefault, c.ReadOnly, c.IsSensitive}
		}
		return m
	}
	got := entries(resp.Resources[0])
	if e := got["retention.ms"]; e != (entry{value: "3600000"}) {
		t.Errorf("all configs: retention.ms %+v, want 3600000, not default", e)
	}
	if e := got["segment.bytes"]; e != (entry{value: "1073741824", isDefault: true}) {
		t.Errorf("all configs: segment.bytes %+v, want 1073741824, default", e)
	}
	if e := got["cleanup.policy"]; e != (entry{value: "delete", isDefault: true}) {
		t.Errorf("all configs: cleanup.policy %+v, want delete, default", e)
	}
	got = entries(resp.Resources[1])
	want := map[string]entry{"retention.ms": {value: "3600000"}, "segment.bytes": {value: "1073741824", isDefault: true}}
	if len(got) != len(want) || got["retention.ms"] != want["retention.ms"] || got["segment.bytes"] != want["segment.bytes"] {
		t.Errorf("named configs: %+v, want %+v", got, want)
	}
	wantCode(t, "v0 describe of an unknown topic", resp.Resources[2].ErrorCode, kerr.UnknownTopicOrPartition)

	// The connection is still open and usable.
	m := kmsg.NewPtrMetadataRequest()
	m.Version = 5
	c.must(m)
}
