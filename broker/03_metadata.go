package broker

// Metadata (API key 3), versions 0-13.
//
// One broker, which leads every partition (leader epoch 0, replicas and
// ISR [node id]). Unknown topics are created when auto-creation is on and
// the request allows it (always before v4), with num.partitions
// partitions. Invalid names get INVALID_TOPIC_EXCEPTION. v10+ carries topic
// ids; v13 can answer a top-level error (never used here).

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(3, 0, 13, (*Broker).handleMetadata)
}

func (b *Broker) handleMetadata(cs *conn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	host, port := b.advertised()
	resp.Brokers = []kmsg.MetadataResponseBroker{{NodeID: b.cfg.NodeID, Host: host, Port: port}}
	resp.ClusterID = &b.clusterID
	resp.ControllerID = b.cfg.NodeID

	var ts []*topic
	var missing []kmsg.MetadataResponseTopic
	if req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0) {
		for _, t := range b.reg().byName {
			ts = append(ts, t)
		}
	} else {
		autoCreate := !b.cfg.NoAutoCreateTopics && (req.Version < 4 || req.AllowAutoTopicCreation)
		for _, rt := range req.Topics {
			var t *topic
			if rt.Topic != nil {
				t = b.topicByName(*rt.Topic)
			} else if rt.TopicID != ([16]byte{}) {
				t = b.reg().byID[rt.TopicID]
			}
			if t == nil && rt.Topic != nil && autoCreate {
				var err error
				t, err = b.createTopic(*rt.Topic, -1, nil, false)
				if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
					mt := kmsg.NewMetadataResponseTopic()
					mt.Topic = rt.Topic
					mt.ErrorCode = errCode(err)
					missing = append(missing, mt)
					continue
				}
				if t == nil {
					t = b.topicByName(*rt.Topic)
				}
			}
			if t == nil {
				mt := kmsg.NewMetadataResponseTopic()
				mt.Topic = rt.Topic
				mt.TopicID = rt.TopicID
				if rt.Topic != nil && validateTopicName(*rt.Topic) != nil {
					mt.ErrorCode = kerr.InvalidTopicException.Code
				} else if rt.Topic == nil {
					mt.ErrorCode = kerr.UnknownTopicID.Code
				} else {
					mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
				}
				missing = append(missing, mt)
				continue
			}
			ts = append(ts, t)
		}
	}
	for _, t := range ts {
		mt := kmsg.NewMetadataResponseTopic()
		name := t.name
		mt.Topic = &name
		mt.TopicID = t.id
		mt.IsInternal = t.internal
		for _, p := range t.parts {
			mp := kmsg.NewMetadataResponseTopicPartition()
			mp.Partition = p.index
			mp.Leader = b.cfg.NodeID
			mp.LeaderEpoch = 0
			mp.Replicas = []int32{b.cfg.NodeID}
			mp.ISR = []int32{b.cfg.NodeID}
			mt.Partitions = append(mt.Partitions, mp)
		}
		resp.Topics = append(resp.Topics, mt)
	}
	resp.Topics = append(resp.Topics, missing...)
	return resp
}
