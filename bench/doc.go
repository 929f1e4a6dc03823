// Package bench is Weir's benchmark harness: it drives Kafka-protocol
// brokers (and NATS JetStream, for comparison) with declarative workloads
// and measures throughput, latency, and the broker's CPU time and memory.
// `weir bench` is its command; bench/README.md is the user's guide.
//
// A Workload (parsed from YAML by ParseWorkloads; StandardSuite returns
// the shipped suite) against a Target is a Config, run by Run: it starts
// the target as a child process (or uses a running one), creates the
// run's topics, runs the producers and consumers from this process with
// franz-go (NATS: nats.go), samples the broker every second, stops the
// target and returns a Result. Suite repeats runs over several targets,
// alternating them; Report and WriteOutputs turn results into Markdown
// tables of medians and same-run ratios, JSON and SVG plots (bench/plot).
//
// # What is measured
//
// Rates count value bytes, in MB (1e6 bytes) per second. Each record value
// carries its intended send time (see recordHeader); end-to-end latency is
// the consumer's receipt time minus that time, and acknowledgement latency
// the producer's callback time minus it. At a fixed rate the intended times
// follow the schedule, never the actual sends, so stalls are not hidden
// (coordinated omission). Latencies go to a log-linear Histogram (0.8%).
// Records due during the warm-up are produced and consumed but not counted.
//
// Broker CPU is user+system time from /proc/PID/stat over the measured
// phase, including the consumers' drain, divided by the GB produced
// (catch-up: read); memory is VmRSS and VmHWM from /proc/PID/status. On a
// small machine the load generator competes with the broker for the CPU,
// so compare targets by ratios measured in the same run, by CPU per GB and
// by the share of the ceiling: the null broker (ServeNull), which
// acknowledges and discards produce requests and serves fetches from one
// canned batch, is what the load generator itself can drive.
//
// Allocation counts need the broker's runtime.MemStats, which only a Go
// program running the broker can give: the KindWeirHelper target runs
// Weir's broker in-process in this package's test binary (see
// TestBrokerHelperProcess), which also serves pprof.
//
// # Targets and durability
//
//   - weir: `weir serve` with its defaults: group commit, acks=all answered
//     after fsync. Transport epoll (default) or net.
//   - kfake: franz-go's fake broker, in memory, no fsync (ServeKfake).
//   - null: the ceiling (ServeNull).
//   - nats: nats-server with a JetStream file stream of one subject per
//     partition; see natsConfig for what its acknowledgement guarantees.
//   - kafka: any running Kafka-protocol broker (KindKafka).
//
// Package bench imports Weir's batch package (the null broker's canned
// batch) and, in tests only, its broker; everything else it does speaks
// only the Kafka protocol, so it measures other brokers exactly as it
// measures Weir.
package bench
