// Package bench drives Kafka-protocol brokers (and NATS JetStream, for
// comparison) with standard workloads and measures throughput, latency,
// and the broker's CPU time and memory.
//
// A run is a Config — a Workload against a Target — passed to Run, which
// starts the target as a child process, runs the load from this process
// with franz-go (NATS: nats.go), stops the target, and returns a Result.
// The package owns no mutable globals; cmd/weirbench binds flags, and
// Report turns results into Markdown tables of medians and same-run ratios.
//
//	res, err := bench.Run(ctx, bench.Config{
//		Workload: must(bench.StandardWorkload(bench.W1)),
//		Target:   bench.Target{Kind: bench.KindWeir, Binary: "bin/weir"},
//	})
//
// # Workloads
//
//   - W1: produce as fast as one client can, 1 KiB records, 4 partitions,
//     acks=all, with one consumer reading concurrently, 20 s.
//   - W2: the same at a fixed 20 MB/s, for end-to-end latency.
//   - W3: W1 with 100-byte records (records/s, CPU per GB).
//   - W4: fill a 2 GB backlog, then a fresh consumer reads it from offset 0.
//   - CONNS: 10,000 connections, mostly idle, with 200 Metadata requests/s
//     on random ones (memory per connection, request latency).
//
// # What is measured
//
// Rates count value bytes, in MB (1e6 bytes) per second. Each record value
// carries its intended send time (see recordHeader); end-to-end latency is
// the consumer's receipt time minus that time, and acknowledgement latency
// the producer's callback time minus it. At a fixed rate the intended times
// follow the schedule, never the actual sends, so stalls are not hidden
// (coordinated omission). Latencies go to a log-linear Histogram (0.8%).
//
// Broker CPU is user+system time from /proc/PID/stat over the measured
// phase, including the consumer's drain, divided by the GB produced (W4:
// read); memory is VmRSS and VmHWM from /proc/PID/status. On a 2-core
// machine the load generator competes with the broker for the CPU and is
// itself the ceiling of the produce rate, so compare targets by ratios
// measured in the same run and by CPU per GB, not by absolute rates.
//
// Allocation counts need the broker's runtime.MemStats, which only a Go
// program running the broker can give: the KindWeirHelper target runs
// Weir's broker in-process in this package's test binary (see
// TestBrokerHelperProcess), which also serves pprof. That test is the only
// place bench touches Weir's packages; the library itself speaks only the
// Kafka protocol (franz-go) and NATS (nats.go).
//
// # Targets and durability
//
//   - weir: `weir serve` with its defaults: group commit, acks=all answered
//     after fsync. Transport epoll (default) or net.
//   - kfake: franz-go's fake broker, in memory, no fsync (ServeKfake).
//   - nats: nats-server with a JetStream file stream of 4 subjects; see
//     natsConfig for what its acknowledgement guarantees.
//
// Consumers read partitions directly (no consumer group), from offset 0.
package bench
