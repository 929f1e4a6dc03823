// Package goclients checks Weir against two widely used Go Kafka clients
// with protocol code of their own, IBM/sarama and segmentio/kafka-go. Each
// test starts an embedded broker with weirtest.Start (the same broker code
// as weir serve) on an ephemeral port and a temporary directory, drives it
// as a user of the client would, and asserts the results exactly.
//
// It is a module of its own so that Weir's module does not depend on these
// clients. Run it with scripts/compat-goclients.sh.
package goclients
