// Command weir is Weir's single binary: the broker and its tools.
//
//	weir serve            start a single-node broker
//	weir dump PATH        print a segment's batches and index entries
//	weir topic ...        create, list, describe, alter and delete topics
//	weir produce TOPIC    produce stdin lines (or --value) as records
//	weir consume TOPIC    print records with a kcat-style format
//	weir group ...        list, describe, delete consumer groups, reset offsets
//	weir bench ...        benchmark suites against any Kafka-protocol broker
//
// The client commands (topic, produce, consume) use franz-go and work
// against any Kafka-protocol broker: --bootstrap, or $WEIR_BOOTSTRAP,
// default 127.0.0.1:9092.
//
// Run "weir help" for the list of commands.
package main

import (
	"fmt"
	"io"
	"os"
)

type command struct {
	name  string
	usage string
	run   func(args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

// noStdin adapts a command that never reads standard input.
func noStdin(run func(args []string, stdout, stderr io.Writer) int) func([]string, io.Reader, io.Writer, io.Writer) int {
	return func(args []string, _ io.Reader, stdout, stderr io.Writer) int { return run(args, stdout, stderr) }
}

var commands []command

func init() {
	commands = []command{
		{"serve", "serve [flags]       start a single-node Kafka-protocol broker (127.0.0.1:9092, ./weir-data)", noStdin(runServe)},
		{"dump", "dump [flags] PATH    print a segment, index or partition directory and flag what recovery would cut", noStdin(runDump)},
		{"topic", "topic SUBCOMMAND     create, list, describe, alter or delete topics on any Kafka-protocol broker", runTopic},
		{"produce", "produce TOPIC        produce stdin lines (or --value) as records, with keys and headers", runProduce},
		{"consume", "consume TOPIC        print records from beginning/end/offset/timestamp in a kcat-style format", runConsume},
		{"group", "group SUBCOMMAND     list, describe (members, offsets, lag), delete consumer groups, reset their offsets", runGroup},
		{"bench", "bench [WORKLOAD...]  benchmark weir or any Kafka-protocol broker (standard suite, reports with plots); bench storage: the engine alone", noStdin(runBench)},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: weir COMMAND [flags] [args]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %s\n", c.usage)
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(args[1:], stdin, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "weir: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}
