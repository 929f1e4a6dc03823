package broker

// ListOffsets (API key 2), versions 1-11.
//
// Timestamps: -2 earliest (log start offset), -1 latest (high watermark;
// the last stable offset for read_committed, equal until transactions
// exist), -3 max timestamp (v7+: the first record with the largest
// timestamp), -4 earliest local (= earliest; no tiered storage), -5
// earliest pending upload (none: -1). A timestamp >= 0 finds the first
// record whose timestamp is >= it, or -1 when there is none.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(2, 1, 11, (*Broker).handleListOffsets)
}

func (b *Broker) handleListOffsets(cs *conn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		t := b.topicByName(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, -1, -1
			switch {
			case t == nil || rp.Partition < 0 || int(rp.Partition) >= len(t.parts):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case rp.CurrentLeaderEpoch > 0:
				sp.ErrorCode = kerr.UnknownLeaderEpoch.Code
			default:
				p := t.parts[rp.Partition]
				sp.LeaderEpoch = 0
				switch ts := rp.Timestamp; {
				case ts == -2 || ts == -4:
					sp.Offset = p.log.StartOffset()
				case ts == -1:
					sp.Offset = p.highWatermark()
				case ts == -5:
				case ts == -3:
					mts, off, ok, err := p.log.MaxTimestamp()
					if err != nil {
						sp.ErrorCode = kerr.KafkaStorageError.Code
					} else if ok {
						sp.Timestamp, sp.Offset = mts, off
					}
				case ts < 0:
					sp.ErrorCode = kerr.InvalidRequest.Code
				default:
					off, rts, ok, err := p.log.OffsetForTimestamp(ts)
					if err != nil {
						sp.ErrorCode = kerr.KafkaStorageError.Code
					} else if ok && off < p.highWatermark() {
						sp.Timestamp, sp.Offset = rts, off
					}
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
