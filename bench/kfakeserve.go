package bench

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kfake"
)

// ServeKfake runs franz-go's kfake as a one-broker cluster on addr
// (host:port) until ctx ends. It keeps every record in memory and fsyncs
// nothing: the fastest Kafka-protocol peer we have, and the baseline the
// targets are compared to. A KindKfake target runs it in a child process
// (weirbench's hidden kfake-server command) so that its CPU time and
// memory are measured the same way as the other brokers'.
func ServeKfake(ctx context.Context, addr string) error {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("bench: kfake address: %w", err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("bench: kfake port: %w", err)
	}
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, net.JoinHostPort(host, portStr))
		}),
	)
	if err != nil {
		return fmt.Errorf("bench: kfake: %w", err)
	}
	<-ctx.Done()
	c.Close()
	return nil
}
