package main

// What the client commands (topic, produce, consume) share: the
// --bootstrap and --timeout flags, flag parsing that allows flags after
// positional arguments, franz-go client construction, and error text that
// names the Kafka error.
//
// Exit codes of the client commands: 0 success, 1 the operation failed
// (the broker returned an error, or could not be reached), 2 usage error.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// defaultBootstrap is used when neither --bootstrap nor $WEIR_BOOTSTRAP is
// set: the address "weir serve" listens on by default.
const defaultBootstrap = "127.0.0.1:9092"

// clientFlags are the connection flags every client command takes.
type clientFlags struct {
	bootstrap string        // comma-separated host:port list
	timeout   time.Duration // bound on admin requests and on connecting
}

func addClientFlags(fl *flag.FlagSet) *clientFlags {
	c := &clientFlags{}
	def := os.Getenv("WEIR_BOOTSTRAP")
	if def == "" {
		def = defaultBootstrap
	}
	fl.StringVar(&c.bootstrap, "bootstrap", def, "comma-separated broker addresses (env WEIR_BOOTSTRAP)")
	fl.StringVar(&c.bootstrap, "b", def, "short for --bootstrap")
	fl.DurationVar(&c.timeout, "timeout", 10*time.Second, "give up on the broker after this long")
	return c
}

// seeds splits the bootstrap list.
func (c *clientFlags) seeds() []string {
	var s []string
	for _, a := range strings.Split(c.bootstrap, ",") {
		if a = strings.TrimSpace(a); a != "" {
			s = append(s, a)
		}
	}
	return s
}

// client returns a franz-go client for the bootstrap brokers. Requests are
// retried for at most --timeout, so an unreachable broker gives an error
// rather than a hang.
func (c *clientFlags) client(opts ...kgo.Opt) (*kgo.Client, error) {
	seeds := c.seeds()
	if len(seeds) == 0 {
		return nil, errors.New("--bootstrap is empty")
	}
	base := []kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.ClientID("weir"),
		kgo.DialTimeout(min(c.timeout, 10*time.Second)),
		kgo.RetryTimeout(c.timeout),
	}
	return kgo.NewClient(append(base, opts...)...)
}

// admin returns an admin client over a new franz-go client; closing the
// admin client closes both.
func (c *clientFlags) admin() (*kadm.Client, error) {
	cl, err := c.client()
	if err != nil {
		return nil, err
	}
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(int32(min(c.timeout, time.Hour).Milliseconds()))
	return adm, nil
}

// requestContext is canceled by SIGINT/SIGTERM or after --timeout.
func (c *clientFlags) requestContext() (context.Context, context.CancelFunc) {
	ctx, stop := signalContext()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	return ctx, func() { cancel(); stop() }
}

// adminSession opens an admin client and the context of one command's
// requests; done releases both.
func (c *clientFlags) adminSession() (*kadm.Client, context.Context, func(), error) {
	adm, err := c.admin()
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := c.requestContext()
	return adm, ctx, func() { cancel(); adm.Close() }, nil
}

// namesSession parses "weir CMD [flags] NAME..." (at least one NAME; what
// says what a NAME is in the usage error) and opens the command's admin
// session. A code of 0 or more means the command is over with that code.
func namesSession(fl *flag.FlagSet, cf *clientFlags, cmd, what string, args []string, stderr io.Writer) (names []string, adm *kadm.Client, ctx context.Context, done func(), code int) {
	names, err := parseFlags(fl, args)
	if err != nil {
		return nil, nil, nil, nil, parseExit(err)
	}
	if len(names) == 0 {
		return nil, nil, nil, nil, usageErr(stderr, cmd, "want at least one %s", what)
	}
	adm, ctx, done, err = cf.adminSession()
	if err != nil {
		return nil, nil, nil, nil, usageErr(stderr, cmd, "%v", err)
	}
	return names, adm, ctx, done, -1
}

// signalContext is canceled by SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
}

// errText describes err for a person. A Kafka error reads as its name and
// description ("TOPIC_ALREADY_EXISTS: Topic with this name already
// exists."), followed by the broker's own message when it sent one. A
// request that timed out says which brokers it could not reach.
func (c *clientFlags) errText(err error, brokerMsg string) string {
	s := err.Error() // a *kerr.Error reads "NAME: Description"
	var ke *kerr.Error
	errors.As(err, &ke)
	if errors.Is(err, context.DeadlineExceeded) {
		s = fmt.Sprintf("no answer from %s within %v (is a broker running there? --bootstrap or WEIR_BOOTSTRAP sets the address)", c.bootstrap, c.timeout)
	}
	// Some brokers repeat the error's name and description in their
	// message; keep only what they add.
	if ke != nil {
		brokerMsg = strings.TrimPrefix(brokerMsg, ke.Error())
		brokerMsg = strings.TrimPrefix(brokerMsg, ke.Message)
	}
	brokerMsg = strings.TrimLeft(brokerMsg, ": ")
	if brokerMsg != "" && !strings.Contains(s, brokerMsg) {
		s += " (broker: " + brokerMsg + ")"
	}
	return s
}

// parseFlags parses args with fl, accepting flags before, between and after
// positional arguments ("weir topic create orders --partitions 3"). "--"
// ends the flags. It returns the positional arguments.
func parseFlags(fl *flag.FlagSet, args []string) ([]string, error) {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fl.Lookup(name)
		if f == nil {
			continue // fl.Parse reports it
		}
		if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	if err := fl.Parse(flags); err != nil {
		return nil, err
	}
	return pos, nil
}

// parseExit is the exit code for a flag parse error: 0 for -h, else 2.
func parseExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// keyValues splits "k=v" strings; check names the flag in errors.
func keyValues(flagName string, kvs []string) ([][2]string, error) {
	out := make([][2]string, 0, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--%s %q: want key=value", flagName, kv)
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

// usageErr prints a usage error and returns exit code 2.
func usageErr(stderr io.Writer, cmd, format string, args ...any) int {
	fmt.Fprintf(stderr, "weir %s: %s\n", cmd, fmt.Sprintf(format, args...))
	fmt.Fprintf(stderr, "run \"weir %s -h\" for usage\n", cmd)
	return 2
}

// records is "1 record" or "n records".
func records(n int) string {
	if n == 1 {
		return "1 record"
	}
	return strconv.Itoa(n) + " records"
}

// runSubcommand dispatches "weir CMD SUB args" to subs[SUB].
func runSubcommand(cmd, usage string, subs map[string]func([]string, io.Writer, io.Writer) int, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	sub, args := args[0], args[1:]
	if fn := subs[sub]; fn != nil {
		return fn(args, stdout, stderr)
	}
	if sub == "help" || sub == "-h" || sub == "--help" {
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "weir %s: unknown subcommand %q\n\n", cmd, sub)
	fmt.Fprint(stderr, usage)
	return 2
}

// subcommandFlags starts the flag set of "weir CMD SUB", with the client
// flags every client command takes.
func subcommandFlags(cmd, sub, argsUsage string, stderr io.Writer) (*flag.FlagSet, *clientFlags) {
	fl := flag.NewFlagSet(cmd+" "+sub, flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() {
		fmt.Fprintf(stderr, "usage: weir %s %s [flags] %s\n\nflags:\n", cmd, sub, argsUsage)
		fl.PrintDefaults()
	}
	return fl, addClientFlags(fl)
}
