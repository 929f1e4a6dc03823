package broker

// CreateTopics (API key 19), versions 2-7.
//
// Partitions -1 means num.partitions. A single broker accepts replication
// factor 1 or -1 (INVALID_REPLICATION_FACTOR otherwise) and manual
// assignments only onto itself. Configs are validated (INVALID_CONFIG for
// unknown keys or bad values). validate_only checks without creating. v5+
// answers the topic's partitions, replication factor and configs; v7 its
// topic id.

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(19, 2, 7, (*Broker).handleCreateTopics)
}

func (b *Broker) handleCreateTopics(cs *conn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	seen := map[string]int{}
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	for _, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		st.NumPartitions, st.ReplicationFactor = -1, -1
		err := func() error {
			if seen[rt.Topic] > 1 {
				return fmt.Errorf("%w: topic %q appears more than once in the request", kerr.InvalidRequest, rt.Topic)
			}
			if rt.ReplicationFactor != -1 && rt.ReplicationFactor != 1 {
				return fmt.Errorf("%w: replication factor %d exceeds the 1 available broker", kerr.InvalidReplicationFactor, rt.ReplicationFactor)
			}
			n := rt.NumPartitions
			if len(rt.ReplicaAssignment) > 0 {
				if n != -1 || rt.ReplicationFactor != -1 {
					return fmt.Errorf("%w: both partitions/replication factor and a manual assignment", kerr.InvalidRequest)
				}
				for i, a := range rt.ReplicaAssignment {
					if a.Partition != int32(i) {
						return fmt.Errorf("%w: assignment partitions must be 0..n-1", kerr.InvalidReplicaAssignment)
					}
					if len(a.Replicas) != 1 || a.Replicas[0] != b.cfg.NodeID {
						return fmt.Errorf("%w: replicas must be [%d]", kerr.InvalidReplicaAssignment, b.cfg.NodeID)
					}
				}
				n = int32(len(rt.ReplicaAssignment))
			}
			configs := map[string]string{}
			for _, c := range rt.Configs {
				if c.Value == nil {
					return fmt.Errorf("%w: config %s has a null value", kerr.InvalidConfig, c.Name)
				}
				configs[c.Name] = *c.Value
			}
			t, err := b.createTopic(rt.Topic, n, configs, req.ValidateOnly)
			if err != nil {
				return err
			}
			st.NumPartitions = int32(len(t.parts))
			st.ReplicationFactor = 1
			st.TopicID = t.id
			st.Configs = describeTopicConfigs(b, t, nil)
			return nil
		}()
		if err != nil {
			st.ErrorCode = errCode(err)
			st.ErrorMessage = errMsg(err)
			if !errors.Is(err, kerr.TopicAlreadyExists) {
				b.log.Info("create topic refused", "topic", rt.Topic, "err", err)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// describeTopicConfigs lists a topic's configs for CreateTopics v5+.
func describeTopicConfigs(b *Broker, t *topic, names map[string]bool) []kmsg.CreateTopicsResponseTopicConfig {
	var out []kmsg.CreateTopicsResponseTopicConfig
	for _, e := range topicConfigEntries(b, t) {
		if names != nil && !names[e.name] {
			continue
		}
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		c.Name = e.name
		v := e.value
		c.Value = &v
		c.Source = e.source
		c.IsSensitive = false
		c.ReadOnly = false
		out = append(out, c)
	}
	return out
}
