// Package broker is Weir's Kafka-protocol broker: a topic and partition
// registry over Weir's partition logs, the request handlers per API key
// (one file each, NN_name.go, with the versions and behaviour it supports
// at its top), delayed operations for long-poll fetches and acks=all
// produces, and idempotent producer state.
//
// A Broker serves any net.Listener through netpoll's event loops, so Go
// programs can embed a real broker (see the weirtest package for tests).
// weir serve also starts with GODEBUG=schedtrace=2147483647, which keeps
// the Go runtime's sysmon thread out of deep sleep and saves about a fifth
// of the broker's CPU when load comes in bursts (docs/DECISIONS.md); a
// program embedding the broker can set the same in its environment.
//
// Threading: request handlers run on the connection's event loop and must
// not block; waits (fsync for acks=all, max.wait.ms for fetch) complete
// from the log's flusher or from timers and reply through the connection,
// which writes responses in request order.
package broker
