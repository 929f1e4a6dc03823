package broker

// OffsetForLeaderEpoch (API key 23), versions 2-4.
//
// A single broker has leader epoch 0 for every partition, and every batch
// it appends carries epoch 0. For epoch 0 the end offset is the log end;
// for a larger requested epoch the answer is undefined (-1, -1), as Kafka
// answers for epochs it does not know. current_leader_epoch above 0 is
// UNKNOWN_LEADER_EPOCH (the client has newer metadata than we do).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(23, 2, 4, (*Broker).handleOffsetForLeaderEpoch)
}

func (b *Broker) handleOffsetForLeaderEpoch(cs *conn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		t := b.topicByName(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LeaderEpoch, sp.EndOffset = -1, -1
			switch {
			case t == nil || rp.Partition < 0 || int(rp.Partition) >= len(t.parts):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case rp.CurrentLeaderEpoch > 0:
				sp.ErrorCode = kerr.UnknownLeaderEpoch.Code
			case rp.LeaderEpoch == 0:
				sp.LeaderEpoch = 0
				sp.EndOffset = t.parts[rp.Partition].log.EndOffset()
			case rp.LeaderEpoch < 0:
				sp.ErrorCode = kerr.InvalidRequest.Code
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
