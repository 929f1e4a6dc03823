package broker

// CreatePartitions (API key 37), versions 0-3. Grows a topic; the count
// can only increase (INVALID_PARTITIONS otherwise). Manual assignments must
// name this broker only.

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(37, 0, 3, (*Broker).handleCreatePartitions)
}

func (b *Broker) handleCreatePartitions(cs *conn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		err := func() error {
			t := b.topicByName(rt.Topic)
			if t == nil {
				return fmt.Errorf("%w: topic %q", kerr.UnknownTopicOrPartition, rt.Topic)
			}
			for _, a := range rt.Assignment {
				for _, r := range a.Replicas {
					if r != b.cfg.NodeID {
						return fmt.Errorf("%w: replica %d is not a broker", kerr.InvalidReplicaAssignment, r)
					}
				}
			}
			if t.internal {
				return fmt.Errorf("%w: internal topic %q cannot grow", kerr.PolicyViolation, rt.Topic)
			}
			return b.createPartitions(t, rt.Count, req.ValidateOnly)
		}()
		if err != nil {
			st.ErrorCode = errCode(err)
			st.ErrorMessage = errMsg(err)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
