// Command weir is Weir's single binary: the broker and its tools.
//
//	weir serve            start a single-node broker
//	weir dump PATH        print a segment's batches and index entries
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
	run   func(args []string, stdout, stderr io.Writer) int
}

var commands []command

func init() {
	commands = []command{
		{"serve", "serve [flags]       start a single-node Kafka-protocol broker (127.0.0.1:9092, ./weir-data)", runServe},
		{"dump", "dump [flags] PATH    print a segment, index or partition directory and flag what recovery would cut", runDump},
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
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "weir: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}
