package broker

// DeleteTopics (API key 20), versions 1-6. Topics by name, or by id (v6).
// The topic's partitions are closed and their directories removed. Until
// they are, creating a topic of the same name is refused with
// TOPIC_ALREADY_EXISTS ("marked for deletion"), as Kafka does.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(20, 1, 6, (*Broker).handleDeleteTopics)
}

func (b *Broker) handleDeleteTopics(cs *conn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	type target struct {
		name *string
		id   [16]byte
	}
	var targets []target
	if req.Version >= 6 {
		for _, t := range req.Topics {
			targets = append(targets, target{t.Topic, t.TopicID})
		}
	} else {
		for i := range req.TopicNames {
			targets = append(targets, target{name: &req.TopicNames[i]})
		}
	}
	for _, tg := range targets {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic = tg.name
		st.TopicID = tg.id
		var t *topic
		if tg.name != nil {
			t = b.topicByName(*tg.name)
		} else {
			t = b.reg().byID[tg.id]
		}
		switch {
		case t == nil && tg.name == nil:
			st.ErrorCode = kerr.UnknownTopicID.Code
		case t == nil:
			st.ErrorCode = kerr.UnknownTopicOrPartition.Code
		case t.internal:
			st.ErrorCode = kerr.InvalidTopicException.Code
			st.ErrorMessage = ptrStr("internal topics cannot be deleted")
		default:
			name := t.name
			st.Topic = &name
			st.TopicID = t.id
			if err := b.deleteTopic(t); err != nil {
				st.ErrorCode = errCode(err)
				st.ErrorMessage = errMsg(err)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
