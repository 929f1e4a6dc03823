package broker

// DescribeConfigs (API key 32), versions 0-4, for topics (resource type
// 2) and the broker (type 4). Each entry says its source: the topic's own
// override (DYNAMIC_TOPIC_CONFIG) or the broker default (DEFAULT_CONFIG /
// STATIC_BROKER_CONFIG when set by the broker's configuration). v3+ carries
// config types. Synonyms, when asked for, are Kafka's: for a topic config,
// the topic's override if any, then the broker default under the broker
// config's name (retention.ms: log.retention.ms).
//
// v0 has no sources, only IsDefault: true for DEFAULT_CONFIG entries.
// Kafka 4 removed v0 (KIP-896); Weir keeps it because sarama configured
// below protocol level 1.1 (V1_0_0_0 was its default until sarama 1.41,
// 2023) describes configs, and lists topics, with v0 only: without it the
// connection closes and ClusterAdmin.ListTopics fails with EOF.

import (
	"slices"
	"strconv"
	"strings"

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
	// synonyms, highest precedence first, as Kafka lists them when asked
	// (IncludeSynonyms); nil means the entry alone.
	synonyms []configEntry
}

// brokerSynonyms names the broker config each topic config defaults to,
// Kafka's names (retention.ms falls back to log.retention.ms, and so on).
var brokerSynonyms = map[string]string{
	"cleanup.policy":         "log.cleanup.policy",
	"max.message.bytes":      "message.max.bytes",
	"message.timestamp.type": "log.message.timestamp.type",
	"min.insync.replicas":    "min.insync.replicas",
	"retention.bytes":        "log.retention.bytes",
	"retention.ms":           "log.retention.ms",
	"segment.bytes":          "log.segment.bytes",
	"segment.ms":             "log.roll.ms",
}

func ms(d int64) string { return strconv.FormatInt(d, 10) }

// topicConfigEntries lists a topic's effective configs. Each has as
// synonyms the topic's override, if any, then the broker default it falls
// back to, under the broker config's name.
func topicConfigEntries(b *Broker, t *topic) []configEntry {
	entries := topicConfigValues(&t.cfg)
	defaults, _ := b.effectiveConfig(nil)
	for i, d := range topicConfigValues(&defaults) {
		e := &entries[i]
		def := configEntry{name: brokerSynonyms[d.name], value: d.value, source: sourceDefault, typ: d.typ}
		if _, ok := t.configs[e.name]; ok {
			e.source = sourceDynamicTopic
			e.synonyms = []configEntry{{name: e.name, value: e.value, source: sourceDynamicTopic, typ: e.typ}, def}
		} else {
			e.source = sourceDefault
			e.synonyms = []configEntry{def}
		}
	}
	for k, v := range t.configs {
		if knownIgnoredConfig[k] {
			entries = append(entries, configEntry{name: k, value: v, source: sourceDynamicTopic, typ: typeString})
		}
	}
	slices.SortFunc(entries, func(a, b configEntry) int { return strings.Compare(a.name, b.name) })
	return entries
}

// topicConfigValues lists the topic configs Weir acts on, with c's values,
// in brokerSynonyms' order of names.
func topicConfigValues(c *topicConfig) []configEntry {
	retMs := int64(-1)
	if c.retentionMs >= 0 {
		retMs = c.retentionMs.Milliseconds()
	}
	tsType := "CreateTime"
	if c.logAppendTime {
		tsType = "LogAppendTime"
	}
	return []configEntry{
		{name: "cleanup.policy", value: c.cleanupPolicy, typ: typeList},
		{name: "max.message.bytes", value: strconv.Itoa(c.maxMessageBytes), typ: typeInt},
		{name: "message.timestamp.type", value: tsType, typ: typeString},
		{name: "min.insync.replicas", value: strconv.Itoa(c.minInsyncRepl), typ: typeInt},
		{name: "retention.bytes", value: ms(c.retentionBytes), typ: typeLong},
		{name: "retention.ms", value: ms(retMs), typ: typeLong},
		{name: "segment.bytes", value: ms(c.segmentBytes), typ: typeInt},
		{name: "segment.ms", value: ms(c.segmentMs.Milliseconds()), typ: typeLong},
	}
}

// brokerConfigEntries lists the broker's configs.
func brokerConfigEntries(b *Broker) []configEntry {
	retMs := int64(-1)
	if b.cfg.RetentionMs >= 0 {
		retMs = b.cfg.RetentionMs.Milliseconds()
	}
	entries := []configEntry{
		{name: "auto.create.topics.enable", value: strconv.FormatBool(!b.cfg.NoAutoCreateTopics), typ: typeBoolean},
		{name: "broker.id", value: strconv.Itoa(int(b.cfg.NodeID)), typ: typeInt},
		{name: "log.dirs", value: b.cfg.DataDir, typ: typeString},
		{name: "log.retention.bytes", value: ms(b.cfg.RetentionBytes), typ: typeLong},
		{name: "log.retention.ms", value: ms(retMs), typ: typeLong},
		{name: "log.roll.ms", value: ms(b.cfg.SegmentMs.Milliseconds()), typ: typeLong},
		{name: "log.segment.bytes", value: ms(b.cfg.SegmentBytes), typ: typeInt},
		{name: "message.max.bytes", value: strconv.Itoa(b.cfg.MessageMaxBytes), typ: typeInt},
		{name: "node.id", value: strconv.Itoa(int(b.cfg.NodeID)), typ: typeInt},
		{name: "num.partitions", value: strconv.Itoa(int(b.cfg.DefaultPartitions)), typ: typeInt},
	}
	for i := range entries {
		entries[i].source = sourceStaticBroker
	}
	return entries
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
				syns := e.synonyms
				if syns == nil {
					syns = []configEntry{e}
				}
				for _, se := range syns {
					syn := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
					syn.Name = se.name
					sv := se.value
					syn.Value = &sv
					syn.Source = kmsg.ConfigSource(se.source)
					c.ConfigSynonyms = append(c.ConfigSynonyms, syn)
				}
			}
			sr.Configs = append(sr.Configs, c)
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp
}
