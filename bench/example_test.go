package bench_test

import (
	"context"
	"fmt"
	"os"

	"github.com/weirhq/weir/bench"
)

func ExampleParseWorkloads() {
	ws, err := bench.ParseWorkloads("mine.yaml", []byte(`
name: sweep
partitions: 8
record-size: 512B
rate: [10MB/s, 50MB/s]
consumers: 2
warmup: 2s
duration: 30s
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, w := range ws {
		fmt.Println(w.Name, w.Partitions, w.RecordBytes, w.Rate, w.Consumers, w.Duration)
	}
	_, err = bench.ParseWorkloads("bad.yaml", []byte("name: x\npartitions: many\n"))
	fmt.Println(err)
	// Output:
	// sweep@10MB/s 8 512 1e+07 2 30s
	// sweep@50MB/s 8 512 5e+07 2 30s
	// bench: bad.yaml: line 2: partitions: "many" is not a whole number
}

// A suite of two standard workloads against a running broker and the
// ceiling, with a report written to a directory (not run: it needs a
// broker on 127.0.0.1:9092 and a weir binary for the null broker).
func ExampleSuite() {
	w1, _ := bench.StandardWorkload("max-throughput")
	w2, _ := bench.StandardWorkload("latency@20MB/s")
	s := bench.Suite{
		Workloads: []bench.Workload{w1, w2},
		Targets: []bench.Target{
			{Name: "mine", Kind: bench.KindKafka, Addr: "127.0.0.1:9092"},
			{Name: "null", Kind: bench.KindNull, Binary: "weir", Args: []string{"bench", "serve-null"}},
		},
		Reps: 3,
		Log:  os.Stderr,
	}
	results, errs := s.Run(context.Background())
	for _, err := range errs {
		fmt.Fprintln(os.Stderr, err)
	}
	files, err := bench.WriteOutputs("bench-results/mine", results, bench.ReportOptions{Baseline: "mine"})
	fmt.Println(files, err)
}
