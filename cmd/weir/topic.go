package main

// "weir topic": create, list, describe, alter and delete topics through the
// Kafka admin APIs (kadm), against any Kafka-protocol broker.

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

const topicUsage = `usage: weir topic SUBCOMMAND [flags] [args]

  create NAME [--partitions N] [--replication-factor R] [--config k=v]... [--if-not-exists]
  list [--internal]
  describe NAME...
  alter NAME [--config k=v]... [--delete-config k]... [--partitions N]
  delete NAME...

Every subcommand takes --bootstrap (env WEIR_BOOTSTRAP, default 127.0.0.1:9092)
and --timeout. "weir topic SUBCOMMAND -h" lists its flags.
`

func runTopic(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	return runSubcommand("topic", topicUsage, map[string]func([]string, io.Writer, io.Writer) int{
		"create":   topicCreate,
		"list":     topicList,
		"describe": topicDescribe,
		"alter":    topicAlter,
		"delete":   topicDelete,
	}, args, stdout, stderr)
}

// topicFlags starts a subcommand's flag set.
func topicFlags(sub, argsUsage string, stderr io.Writer) (*flag.FlagSet, *clientFlags) {
	return subcommandFlags("topic", sub, argsUsage, stderr)
}

func topicCreate(args []string, stdout, stderr io.Writer) int {
	fl, cf := topicFlags("create", "NAME", stderr)
	partitions := fl.Int("partitions", -1, "number of partitions (-1: the broker's num.partitions)")
	rf := fl.Int("replication-factor", -1, "replicas per partition (-1: the broker's default)")
	ifNotExists := fl.Bool("if-not-exists", false, "succeed if the topic already exists")
	var configs listFlag
	fl.Var(&configs, "config", "topic config as key=value (repeatable), e.g. retention.ms=86400000")
	pos, err := parseFlags(fl, args)
	if err != nil {
		return parseExit(err)
	}
	if len(pos) != 1 {
		return usageErr(stderr, "topic create", "want exactly one topic NAME, got %d arguments", len(pos))
	}
	if *partitions == 0 || *partitions < -1 {
		return usageErr(stderr, "topic create", "--partitions %d: want a positive number (or -1)", *partitions)
	}
	if *rf == 0 || *rf < -1 || *rf > 1<<15-1 {
		return usageErr(stderr, "topic create", "--replication-factor %d: want a positive number (or -1)", *rf)
	}
	kvs, err := keyValues("config", configs)
	if err != nil {
		return usageErr(stderr, "topic create", "%v", err)
	}
	cfgs := map[string]*string{}
	for _, kv := range kvs {
		cfgs[kv[0]] = &kv[1]
	}
	name := pos[0]

	adm, ctx, done, err := cf.adminSession()
	if err != nil {
		return usageErr(stderr, "topic create", "%v", err)
	}
	defer done()
	resp, err := adm.CreateTopic(ctx, int32(*partitions), int16(*rf), cfgs, name)
	if err != nil {
		if *ifNotExists && errors.Is(err, kerr.TopicAlreadyExists) {
			fmt.Fprintf(stdout, "topic %s already exists\n", name)
			return 0
		}
		fmt.Fprintf(stderr, "weir topic create: %s: %s\n", name, cf.errText(err, resp.ErrMessage))
		return 1
	}
	fmt.Fprintf(stdout, "created topic %s", name)
	if resp.NumPartitions > 0 {
		fmt.Fprintf(stdout, " (partitions %d, replication factor %d)", resp.NumPartitions, resp.ReplicationFactor)
	}
	fmt.Fprintln(stdout)
	return 0
}

func topicList(args []string, stdout, stderr io.Writer) int {
	fl, cf := topicFlags("list", "", stderr)
	internal := fl.Bool("internal", true, "include internal topics")
	pos, err := parseFlags(fl, args)
	if err != nil {
		return parseExit(err)
	}
	if len(pos) != 0 {
		return usageErr(stderr, "topic list", "takes no arguments, got %q", pos)
	}
	adm, ctx, done, err := cf.adminSession()
	if err != nil {
		return usageErr(stderr, "topic list", "%v", err)
	}
	defer done()
	tds, err := adm.ListTopicsWithInternal(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "weir topic list: %s\n", cf.errText(err, ""))
		return 1
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPARTITIONS\tINTERNAL")
	for _, name := range slices.Sorted(maps.Keys(tds)) {
		td := tds[name]
		if td.IsInternal && !*internal {
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%t\n", name, len(td.Partitions), td.IsInternal)
	}
	tw.Flush()
	return 0
}

func topicDescribe(args []string, stdout, stderr io.Writer) int {
	fl, cf := topicFlags("describe", "NAME...", stderr)
	pos, adm, ctx, done, code := namesSession(fl, cf, "topic describe", "topic NAME", args, stderr)
	if code >= 0 {
		return code
	}
	defer done()
	code = 0
	for i, name := range pos {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		if err := describeTopic(ctx, adm, name, stdout); err != nil {
			fmt.Fprintf(stderr, "weir topic describe: %s: %s\n", name, cf.errText(err, errMessage(err)))
			code = 1
		}
	}
	return code
}

// describeTopic prints a topic's partitions (leader, replicas, ISR, start
// and end offsets) and its configs with their sources.
func describeTopic(ctx context.Context, adm *kadm.Client, name string, w io.Writer) error {
	tds, err := adm.ListTopicsWithInternal(ctx, name)
	if err != nil {
		return err
	}
	td, ok := tds[name]
	if !ok {
		return fmt.Errorf("topic missing from the metadata response")
	}
	if td.Err != nil {
		return td.Err
	}
	starts, err := adm.ListStartOffsets(ctx, name)
	if err != nil {
		return fmt.Errorf("list start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, name)
	if err != nil {
		return fmt.Errorf("list end offsets: %w", err)
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, name)
	if err != nil {
		return fmt.Errorf("describe configs: %w", err)
	}
	rc, err := rcs.On(name, nil)
	if err == nil && rc.Err != nil {
		err = &msgError{rc.Err, rc.ErrMessage}
	}
	if err != nil {
		return fmt.Errorf("describe configs: %w", err)
	}

	rf := 0
	for _, p := range td.Partitions {
		rf = max(rf, len(p.Replicas))
	}
	fmt.Fprintf(w, "Topic:              %s\n", name)
	fmt.Fprintf(w, "ID:                 %s\n", base64.RawURLEncoding.EncodeToString(td.ID[:]))
	fmt.Fprintf(w, "Partitions:         %d\n", len(td.Partitions))
	fmt.Fprintf(w, "Replication factor: %d\n", rf)
	fmt.Fprintf(w, "Internal:           %t\n\n", td.IsInternal)

	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tLEADER\tEPOCH\tREPLICAS\tISR\tSTART\tEND\tERROR")
	for _, p := range slices.Sorted(maps.Keys(td.Partitions)) {
		pd := td.Partitions[p]
		start, end := offsetText(starts, name, p), offsetText(ends, name, p)
		errs := "-"
		if pd.Err != nil {
			errs = pd.Err.Error()
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", p, pd.Leader, pd.LeaderEpoch,
			joinInt32(pd.Replicas), joinInt32(pd.ISR), start, end, errs)
	}
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONFIG\tVALUE\tSOURCE")
	cs := slices.Clone(rc.Configs)
	slices.SortFunc(cs, func(a, b kadm.Config) int { return strings.Compare(a.Key, b.Key) })
	for _, c := range cs {
		v := "null"
		switch {
		case c.Sensitive:
			v = "(sensitive)"
		case c.Value != nil:
			v = *c.Value
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Key, v, c.Source)
	}
	tw.Flush()
	return nil
}

// offsetText is a listed offset, or its error.
func offsetText(l kadm.ListedOffsets, topic string, p int32) string {
	o, ok := l.Lookup(topic, p)
	switch {
	case !ok:
		return "?"
	case o.Err != nil:
		return o.Err.Error()
	}
	return strconv.FormatInt(o.Offset, 10)
}

func joinInt32(v []int32) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(int(n))
	}
	return strings.Join(s, ",")
}

func topicAlter(args []string, stdout, stderr io.Writer) int {
	fl, cf := topicFlags("alter", "NAME", stderr)
	var set, del listFlag
	fl.Var(&set, "config", "set a topic config, key=value (repeatable)")
	fl.Var(&del, "delete-config", "remove a topic config override, back to the default (repeatable)")
	partitions := fl.Int("partitions", 0, "grow the topic to this many partitions")
	pos, err := parseFlags(fl, args)
	if err != nil {
		return parseExit(err)
	}
	if len(pos) != 1 {
		return usageErr(stderr, "topic alter", "want exactly one topic NAME, got %d arguments", len(pos))
	}
	if len(set) == 0 && len(del) == 0 && *partitions == 0 {
		return usageErr(stderr, "topic alter", "nothing to do: give --config, --delete-config or --partitions")
	}
	if *partitions < 0 {
		return usageErr(stderr, "topic alter", "--partitions %d: want a positive number", *partitions)
	}
	kvs, err := keyValues("config", set)
	if err != nil {
		return usageErr(stderr, "topic alter", "%v", err)
	}
	var alters []kadm.AlterConfig
	for _, kv := range kvs {
		alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: kv[0], Value: &kv[1]})
	}
	for _, k := range del {
		alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
	}
	name := pos[0]

	adm, ctx, done, err := cf.adminSession()
	if err != nil {
		return usageErr(stderr, "topic alter", "%v", err)
	}
	defer done()
	if len(alters) > 0 {
		resps, err := adm.AlterTopicConfigs(ctx, alters, name)
		if err == nil {
			var r kadm.AlterConfigsResponse
			if r, err = resps.On(name, nil); err == nil && r.Err != nil {
				err = &msgError{r.Err, r.ErrMessage}
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "weir topic alter: %s: configs: %s\n", name, cf.errText(err, errMessage(err)))
			return 1
		}
		for _, kv := range kvs {
			fmt.Fprintf(stdout, "topic %s: set %s=%s\n", name, kv[0], kv[1])
		}
		for _, k := range del {
			fmt.Fprintf(stdout, "topic %s: deleted %s\n", name, k)
		}
	}
	if *partitions > 0 {
		resps, err := adm.UpdatePartitions(ctx, *partitions, name)
		if err == nil {
			var r kadm.CreatePartitionsResponse
			if r, err = resps.On(name, nil); err == nil && r.Err != nil {
				err = &msgError{r.Err, r.ErrMessage}
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "weir topic alter: %s: partitions: %s\n", name, cf.errText(err, errMessage(err)))
			return 1
		}
		fmt.Fprintf(stdout, "topic %s: partitions now %d\n", name, *partitions)
	}
	return 0
}

func topicDelete(args []string, stdout, stderr io.Writer) int {
	fl, cf := topicFlags("delete", "NAME...", stderr)
	pos, adm, ctx, done, code := namesSession(fl, cf, "topic delete", "topic NAME", args, stderr)
	if code >= 0 {
		return code
	}
	defer done()
	resps, err := adm.DeleteTopics(ctx, pos...)
	if err != nil {
		fmt.Fprintf(stderr, "weir topic delete: %s\n", cf.errText(err, ""))
		return 1
	}
	code = 0
	for _, name := range pos {
		r, ok := resps[name]
		switch {
		case !ok:
			fmt.Fprintf(stderr, "weir topic delete: %s: topic missing from the broker's response\n", name)
			code = 1
		case r.Err != nil:
			fmt.Fprintf(stderr, "weir topic delete: %s: %s\n", name, cf.errText(r.Err, r.ErrMessage))
			code = 1
		default:
			fmt.Fprintf(stdout, "deleted topic %s\n", name)
		}
	}
	return code
}

// msgError is a Kafka error with the broker's error message.
type msgError struct {
	err error
	msg string
}

func (e *msgError) Error() string { return e.err.Error() }
func (e *msgError) Unwrap() error { return e.err }

// errMessage is the broker's message carried by err, if any.
func errMessage(err error) string {
	var me *msgError
	if errors.As(err, &me) {
		return me.msg
	}
	return ""
}
