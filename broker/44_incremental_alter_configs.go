package broker

// IncrementalAlterConfigs (API key 44), versions 0-1, and AlterConfigs
// (API key 33), versions 0-2, for topics. Operations: SET, DELETE (back to
// the default), APPEND and SUBTRACT (list configs: cleanup.policy). New
// values are validated first (INVALID_CONFIG); the topic's logs are
// reconfigured at once (retention and segment settings apply from the next
// append or retention check). validate_only checks without changing.
// Broker resources are read-only here (static configuration).

import (
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(44, 0, 1, (*Broker).handleIncrementalAlterConfigs)
	register(33, 0, 2, (*Broker).handleAlterConfigs)
}

func (b *Broker) handleIncrementalAlterConfigs(cs *conn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType = rr.ResourceType
		sr.ResourceName = rr.ResourceName
		err := func() error {
			t, err := b.alterTarget(rr.ResourceType, rr.ResourceName)
			if err != nil {
				return err
			}
			next := cloneMap(t.configs)
			if next == nil {
				next = map[string]string{}
			}
			for _, c := range rr.Configs {
				val := ""
				if c.Value != nil {
					val = *c.Value
				}
				switch c.Op {
				case kmsg.IncrementalAlterConfigOpSet:
					if c.Value == nil {
						return fmt.Errorf("%w: null value for %s", kerr.InvalidConfig, c.Name)
					}
					next[c.Name] = val
				case kmsg.IncrementalAlterConfigOpDelete:
					delete(next, c.Name)
				case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
					if c.Name != "cleanup.policy" {
						return fmt.Errorf("%w: %s is not a list config", kerr.InvalidConfig, c.Name)
					}
					cur := strings.Split(t.cfg.cleanupPolicy, ",")
					if v, ok := next[c.Name]; ok {
						cur = strings.Split(v, ",")
					}
					for _, item := range strings.Split(val, ",") {
						i := slices.Index(cur, item)
						if c.Op == kmsg.IncrementalAlterConfigOpAppend && i < 0 {
							cur = append(cur, item)
						} else if c.Op == kmsg.IncrementalAlterConfigOpSubtract && i >= 0 {
							cur = slices.Delete(cur, i, i+1)
						}
					}
					if len(cur) == 0 {
						return fmt.Errorf("%w: cleanup.policy cannot be empty", kerr.InvalidConfig)
					}
					next[c.Name] = strings.Join(cur, ",")
				default:
					return fmt.Errorf("%w: unknown operation %d", kerr.InvalidRequest, c.Op)
				}
			}
			return b.alterTopicConfigs(t, next, req.ValidateOnly)
		}()
		if err != nil {
			sr.ErrorCode = errCode(err)
			sr.ErrorMessage = errMsg(err)
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp
}

func (b *Broker) handleAlterConfigs(cs *conn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewAlterConfigsResponseResource()
		sr.ResourceType = rr.ResourceType
		sr.ResourceName = rr.ResourceName
		err := func() error {
			t, err := b.alterTarget(rr.ResourceType, rr.ResourceName)
			if err != nil {
				return err
			}
			next := map[string]string{}
			for _, c := range rr.Configs {
				if c.Value == nil {
					return fmt.Errorf("%w: null value for %s", kerr.InvalidConfig, c.Name)
				}
				next[c.Name] = *c.Value
			}
			return b.alterTopicConfigs(t, next, req.ValidateOnly)
		}()
		if err != nil {
			sr.ErrorCode = errCode(err)
			sr.ErrorMessage = errMsg(err)
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp
}

// alterTarget resolves the resource of an alter request: topics only.
func (b *Broker) alterTarget(typ kmsg.ConfigResourceType, name string) (*topic, error) {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		t := b.topicByName(name)
		if t == nil {
			return nil, fmt.Errorf("%w: topic %q", kerr.UnknownTopicOrPartition, name)
		}
		if t.internal {
			return nil, fmt.Errorf("%w: the configs of internal topic %q are managed by the broker", kerr.PolicyViolation, name)
		}
		return t, nil
	case kmsg.ConfigResourceTypeBroker:
		return nil, fmt.Errorf("%w: broker configs are static in Weir; set them in the config file", kerr.InvalidRequest)
	}
	return nil, fmt.Errorf("%w: unsupported resource type %d", kerr.InvalidRequest, typ)
}
