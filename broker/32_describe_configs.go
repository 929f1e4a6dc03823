package broker

// DescribeConfigs (API key 32), versions 0-4, for topics (resource type
// 2) and the broker (type 4). Each entry says its source: the topic's own
// override (DYNAMIC_TOPIC_CONFIG) or the broker default (DEFAULT_CONFIG /
// STATIC_BROKER_CONFIG when set by the broker's configuration). v3+ carries
// config types; synonyms are returned when asked for.
//
// v0 has no sources, only IsDefault: true for DEFAULT_CONFIG entries.
// Kafka 4 removed v0 (KIP-896); Weir keeps it because sarama configured
// below protocol level 1.1 (V1_0_0_0 was its default until sarama 1.41,
// 2023) describes configs, and lists topics, with v0 only: without it the
// connection closes and ClusterAdmin.ListTopics fails with EOF.

import (
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(32, 0, 4, (*Broker).handleDescribeConfigs)
}

// Kafka config sources and types.
const (
	sourceDynamicTopic int8 = 1
	sourceStaticBroker int8 = 4
	sourceDefault      int8 = 5

	typeBoolean int8 = 1
	typeString  int8 = 2
	typeInt     int8 = 3
	typeLong    int8 = 5
	typeList    int8 = 7
)

type configEntry struct {
	name   string
	value  string
	source int8
	typ    int8
}

func ms(d int64) string { return strconv.FormatInt(d, 10) }

// topicConfigEntries lists a topic's effective configs.
func topicConfigEntries(b *Broker, t *topic) []configEntry {
	c := &t.cfg
	retMs := int64(-1)
	if c.retentionMs >= 0 {
		retMs = c.retentionMs.Milliseconds()
	}
	tsType := "CreateTime"
	if c.logAppendTime {
		tsType = "LogAppendTime"
	}
	entries := []configEntry{
		{"cleanup.policy", c.cleanupPolicy, 0, typeList},
		{"max.message.bytes", strconv.Itoa(c.maxMessageBytes), 0, typeInt},
		{"message.timestamp.type", tsType, 0, typeString},
		{"min.insync.replicas", strconv.Itoa(c.minInsyncRepl), 0, typeInt},
		{"retention.bytes", ms(c.retentionBytes), 0, typeLong},
		{"retention.ms", ms(retMs), 0, typeLong},
		{"segment.bytes", ms(c.segmentBytes), 0, typeInt},
		{"segment.ms", ms(c.segmentMs.Milliseconds()), 0, typeLong},
	}
	for i := range entries {
		if _, ok := t.configs[entries[i].name]; ok {
			entries[i].source = sourceDynamicTopic
		} else {
			entries[i].source = sourceDefault
		}
	}
	for k, v := range t.configs {
		if knownIgnoredConfig[k] {
			entries = append(entries, configEntry{k, v, sourceDynamicTopic, typeString})
		}
	}
	slices.SortFunc(entries, func(a, b configEntry) int {
		if a.name < b.name {
			return -1
		}
		if a.name > b.name {
			return 1
		}
		return 0
	})
	return entries
}

// brokerConfigEntries lists the broker's configs.
func brokerConfigEntries(b *Broker) []configEntry {
	retMs := int64(-1)
	if b.cfg.RetentionMs >= 0 {
		retMs = b.cfg.RetentionMs.Milliseconds()
	}
	return []configEntry{
		{"auto.create.topics.enable", strconv.FormatBool(!b.cfg.NoAutoCreateTopics), sourceStaticBroker, typeBoolean},
		{"broker.id", strconv.Itoa(int(b.cfg.NodeID)), sourceStaticBroker, typeInt},
		{"log.dirs", b.cfg.DataDir, sourceStaticBroker, typeString},
		{"log.retention.bytes", ms(b.cfg.RetentionBytes), sourceStaticBroker, typeLong},
		{"log.retention.ms", ms(retMs), sourceStaticBroker, typeLong},
		{"log.roll.ms", ms(b.cfg.SegmentMs.Milliseconds()), sourceStaticBroker, typeLong},
		{"log.segment.bytes", ms(b.cfg.SegmentBytes), sourceStaticBroker, typeInt},
		{"message.max.bytes", strconv.Itoa(b.cfg.MessageMaxBytes), sourceStaticBroker, typeInt},
		{"node.id", strconv.Itoa(int(b.cfg.NodeID)), sourceStaticBroker, typeInt},
		{"num.partitions", strconv.Itoa(int(b.cfg.DefaultPartitions)), sourceStaticBroker, typeInt},
	}
}

func (b *Broker) handleDescribeConfigs(cs *conn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType = rr.ResourceType
		sr.ResourceName = rr.ResourceName
		var entries []configEntry
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			t := b.topicByName(rr.ResourceName)
			if t == nil {
				sr.ErrorCode = kerr.UnknownTopicOrPartition.Code
				resp.Resources = append(resp.Resources, sr)
				continue
			}
			entries = topicConfigEntries(b, t)
		case kmsg.ConfigResourceTypeBroker:
			if rr.ResourceName != "" && rr.ResourceName != strconv.Itoa(int(b.cfg.NodeID)) {
				sr.ErrorCode = kerr.InvalidRequest.Code
				msg := "unknown broker " + rr.ResourceName
				sr.ErrorMessage = &msg
				resp.Resources = append(resp.Resources, sr)
				continue
			}
			entries = brokerConfigEntries(b)
		default:
			sr.ErrorCode = kerr.InvalidRequest.Code
			msg := "unsupported resource type"
			sr.ErrorMessage = &msg
			resp.Resources = append(resp.Resources, sr)
			continue
		}
		var want map[string]bool
		if rr.ConfigNames != nil {
			want = map[string]bool{}
			for _, n := range rr.ConfigNames {
				want[n] = true
			}
		}
		for _, e := range entries {
			if want != nil && !want[e.name] {
				continue
			}
			c := kmsg.NewDescribeConfigsResponseResourceConfig()
			c.Name = e.name
			v := e.value
			c.Value = &v
			c.Source = kmsg.ConfigSource(e.source)
			c.IsDefault = e.source == sourceDefault
			c.ConfigType = kmsg.ConfigType(e.typ)
			if req.IncludeSynonyms {
				syn := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
				syn.Name = e.name
				syn.Value = &v
				syn.Source = kmsg.ConfigSource(e.source)
				c.ConfigSynonyms = append(c.ConfigSynonyms, syn)
			}
			sr.Configs = append(sr.Configs, c)
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp
}
