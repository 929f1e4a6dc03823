package broker

// DescribeCluster (API key 60), versions 0-2: this broker, the cluster id,
// and this broker as controller.

import "github.com/twmb/franz-go/pkg/kmsg"

func init() {
	register(60, 0, 2, (*Broker).handleDescribeCluster)
}

func (b *Broker) handleDescribeCluster(cs *conn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	host, port := b.advertised()
	resp.ClusterID = b.clusterID
	resp.ControllerID = b.cfg.NodeID
	resp.EndpointType = req.EndpointType
	br := kmsg.NewDescribeClusterResponseBroker()
	br.NodeID, br.Host, br.Port = b.cfg.NodeID, host, port
	resp.Brokers = []kmsg.DescribeClusterResponseBroker{br}
	return resp
}
