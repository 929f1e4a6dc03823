package broker

// DeleteRecords (API key 21), versions 0-2.
//
// Moves each partition's log start offset (durably) and deletes segments
// wholly below it. Offset -1 means the high watermark; an offset above the
// high watermark is OFFSET_OUT_OF_RANGE. The response's low watermark is
// the new log start offset.

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/weirhq/weir/log"
)

func init() {
	register(21, 0, 2, (*Broker).handleDeleteRecords)
}

func (b *Broker) handleDeleteRecords(cs *conn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		t := b.topicByName(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LowWatermark = -1
			if t == nil || rp.Partition < 0 || int(rp.Partition) >= len(t.parts) {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			if t.internal {
				sp.ErrorCode = kerr.InvalidTopicException.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			p := t.parts[rp.Partition]
			off := rp.Offset
			hw := p.highWatermark()
			if off == -1 {
				off = hw
			}
			switch {
			case off < 0 || off > hw:
				sp.ErrorCode = kerr.OffsetOutOfRange.Code
			default:
				if err := p.log.DeleteRecordsBefore(off); err != nil {
					if errors.Is(err, log.ErrOffsetOutOfRange) {
						sp.ErrorCode = kerr.OffsetOutOfRange.Code
					} else {
						sp.ErrorCode = kerr.KafkaStorageError.Code
					}
				}
				sp.LowWatermark = p.log.StartOffset()
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
