package main

// "weir group": list, describe and delete consumer groups and reset their
// committed offsets, through the Kafka admin APIs (kadm), against any
// Kafka-protocol broker with a group coordinator.
//
// reset-offsets follows kafka-consumer-groups.sh: it prints the plan and
// commits nothing unless --execute is given, and it refuses unless the
// group is Empty (or Dead: it does not exist yet, and the commit creates
// it), since running consumers would overwrite the new offsets with their
// own commits.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

const groupUsage = `usage: weir group SUBCOMMAND [flags] [args]

  list [--state STATE]...
  describe GROUP...
  delete GROUP...
  reset-offsets GROUP (--topic TOPIC[:P,P...]... | --all-topics)
      (--to-earliest | --to-latest | --to-offset N | --to-timestamp MS|RFC3339 | --shift-by N)
      [--execute]

describe shows a group's state, its members with their assigned partitions,
and per partition the committed offset, log end offset, lag and owner.
reset-offsets prints the new offsets and commits them only with --execute;
it refuses while the group has active members.

Every subcommand takes --bootstrap (env WEIR_BOOTSTRAP, default 127.0.0.1:9092)
and --timeout. "weir group SUBCOMMAND -h" lists its flags.
`

func runGroup(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	return runSubcommand("group", groupUsage, map[string]func([]string, io.Writer, io.Writer) int{
		"list":          groupList,
		"describe":      groupDescribe,
		"delete":        groupDelete,
		"reset-offsets": groupResetOffsets,
	}, args, stdout, stderr)
}

// groupFlags starts a subcommand's flag set.
func groupFlags(sub, argsUsage string, stderr io.Writer) (*flag.FlagSet, *clientFlags) {
	return subcommandFlags("group", sub, argsUsage, stderr)
}

// groupStates are the group state names ListGroups filters on: the
// classic protocol's, then those of KIP-848 consumer groups.
var groupStates = []string{"Stable", "PreparingRebalance", "CompletingRebalance", "Empty", "Dead", "Assigning", "Reconciling"}

// parseStates turns --state values (repeatable, comma-separated,
// case-insensitive) into canonical state names.
func parseStates(vals []string) ([]string, error) {
	var out []string
	for _, v := range vals {
		for _, s := range strings.Split(v, ",") {
			s = strings.TrimSpace(s)
			i := slices.IndexFunc(groupStates, func(st string) bool { return strings.EqualFold(st, s) })
			if i < 0 {
				return nil, fmt.Errorf("--state %q: want one of %s", s, strings.Join(groupStates, ", "))
			}
			if !slices.Contains(out, groupStates[i]) {
				out = append(out, groupStates[i])
			}
		}
	}
	return out, nil
}

func groupList(args []string, stdout, stderr io.Writer) int {
	fl, cf := groupFlags("list", "", stderr)
	var stateFlags listFlag
	fl.Var(&stateFlags, "state", "only groups in this state (repeatable or comma-separated): "+strings.Join(groupStates, ", "))
	pos, err := parseFlags(fl, args)
	if err != nil {
		return parseExit(err)
	}
	if len(pos) != 0 {
		return usageErr(stderr, "group list", "takes no arguments, got %q", pos)
	}
	states, err := parseStates(stateFlags)
	if err != nil {
		return usageErr(stderr, "group list", "%v", err)
	}
	adm, ctx, done, err := cf.adminSession()
	if err != nil {
		return usageErr(stderr, "group list", "%v", err)
	}
	defer done()
	groups, err := adm.ListGroups(ctx, states...)
	if err != nil {
		fmt.Fprintf(stderr, "weir group list: %s\n", cf.errText(err, ""))
		return 1
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tSTATE\tPROTOCOL-TYPE")
	for _, g := range groups.Sorted() {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", g.Group, dash(g.State), dash(g.ProtocolType))
	}
	tw.Flush()
	return 0
}

func groupDescribe(args []string, stdout, stderr io.Writer) int {
	fl, cf := groupFlags("describe", "GROUP...", stderr)
	pos, adm, ctx, done, code := namesSession(fl, cf, "group describe", "GROUP", args, stderr)
	if code >= 0 {
		return code
	}
	defer done()
	// Lag describes the groups, fetches their committed offsets and lists
	// the start and end offsets of every assigned or committed partition.
	lags, err := adm.Lag(ctx, pos...)
	if err != nil {
		fmt.Fprintf(stderr, "weir group describe: %s\n", cf.errText(err, ""))
		return 1
	}
	code = 0
	printed := false
	for _, name := range pos {
		l, ok := lags[name]
		if !ok {
			err = errors.New("group missing from the broker's response")
		} else {
			err = describeGroup(l, stdout, printed)
		}
		if err != nil {
			fmt.Fprintf(stderr, "weir group describe: %s: %s\n", name, cf.errText(err, ""))
			code = 1
			continue
		}
		printed = true
	}
	return code
}

// describeGroup prints a group: its state and members, then every assigned
// or committed partition with its committed offset, log end offset, lag and
// owning member. A partition without a committed offset shows "-" for the
// offset and the lag (as kafka-consumer-groups.sh does). gap asks for a
// blank line first.
func describeGroup(l kadm.DescribedGroupLag, w io.Writer, gap bool) error {
	if l.DescribeErr != nil {
		return l.DescribeErr
	}
	if l.FetchErr != nil {
		return fmt.Errorf("fetching committed offsets: %w", l.FetchErr)
	}
	rows := l.Lag.Sorted()
	if l.State == "Dead" && len(l.Members) == 0 && len(rows) == 0 {
		// Kafka brokers before 4.0 describe a group they do not know
		// as Dead rather than with an error.
		return kerr.GroupIDNotFound
	}
	var total int64
	for _, r := range rows {
		if r.Err == nil && r.Commit.At >= 0 {
			total += r.Lag
		}
	}
	if gap {
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "Group:          %s\n", l.Group)
	fmt.Fprintf(w, "State:          %s\n", l.State)
	fmt.Fprintf(w, "Protocol type:  %s\n", dash(l.ProtocolType))
	fmt.Fprintf(w, "Protocol:       %s\n", dash(l.Protocol))
	fmt.Fprintf(w, "Coordinator:    %d (%s)\n", l.Coordinator.NodeID, l.Coordinator.Host+":"+strconv.Itoa(int(l.Coordinator.Port)))
	fmt.Fprintf(w, "Members:        %d\n", len(l.Members))
	fmt.Fprintf(w, "Total lag:      %d\n", total)

	if len(l.Members) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "MEMBER-ID\tINSTANCE-ID\tCLIENT-ID\tHOST\tASSIGNMENT")
		for _, m := range l.Members {
			inst := "-"
			if m.InstanceID != nil {
				inst = *m.InstanceID
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.MemberID, inst, dash(m.ClientID), dash(m.ClientHost), assignmentText(m.Assigned))
		}
		tw.Flush()
	}

	fmt.Fprintln(w)
	if len(rows) == 0 {
		fmt.Fprintln(w, "No committed offsets or assigned partitions.")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET\tLAG\tMEMBER-ID\tERROR")
	for _, r := range rows {
		cur, end, lag, member, errs := "-", "-", "-", "-", "-"
		if r.Commit.At >= 0 {
			cur = strconv.FormatInt(r.Commit.At, 10)
		}
		if r.End.Err == nil && r.End.Offset >= 0 {
			end = strconv.FormatInt(r.End.Offset, 10)
		}
		if r.Err == nil && r.Commit.At >= 0 {
			lag = strconv.FormatInt(r.Lag, 10)
		}
		if r.Member != nil {
			member = r.Member.MemberID
		}
		if r.Err != nil {
			errs = r.Err.Error()
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", r.Topic, r.Partition, cur, end, lag, member, errs)
	}
	tw.Flush()
	return nil
}

// assignmentText is a member's assignment decoded from the consumer
// protocol, "topic(0,1) other(2)", or "-" for none or another protocol.
func assignmentText(a kadm.GroupMemberAssignment) string {
	c, ok := a.AsConsumer()
	if !ok {
		return "-"
	}
	var parts []string
	for _, t := range c.Topics {
		if len(t.Partitions) == 0 {
			continue
		}
		ps := slices.Sorted(slices.Values(t.Partitions))
		parts = append(parts, t.Topic+"("+joinInt32(ps)+")")
	}
	if len(parts) == 0 {
		return "-"
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

func groupDelete(args []string, stdout, stderr io.Writer) int {
	fl, cf := groupFlags("delete", "GROUP...", stderr)
	pos, adm, ctx, done, code := namesSession(fl, cf, "group delete", "GROUP", args, stderr)
	if code >= 0 {
		return code
	}
	defer done()
	resps, err := adm.DeleteGroups(ctx, pos...)
	if err != nil && len(resps) == 0 {
		fmt.Fprintf(stderr, "weir group delete: %s\n", cf.errText(err, ""))
		return 1
	}
	code = 0
	for _, name := range pos {
		r, ok := resps[name]
		switch {
		case !ok:
			fmt.Fprintf(stderr, "weir group delete: %s: group missing from the broker's response\n", name)
			code = 1
		case r.Err != nil:
			hint := ""
			if errors.Is(r.Err, kerr.NonEmptyGroup) {
				hint = " (it has active members: stop its consumers first)"
			}
			fmt.Fprintf(stderr, "weir group delete: %s: %s%s\n", name, cf.errText(r.Err, r.ErrMessage), hint)
			code = 1
		default:
			fmt.Fprintf(stdout, "deleted group %s\n", name)
		}
	}
	return code
}

// resetKind is where reset-offsets moves a group's offsets.
type resetKind int

const (
	resetEarliest  resetKind = iota // the log start offset
	resetLatest                     // the log end offset
	resetOffset                     // an absolute offset
	resetTimestamp                  // the first record at or after a time (ms)
	resetShift                      // the committed offset plus n
)

type resetSpec struct {
	kind resetKind
	n    int64
}

// topicParts is a --topic: a topic and some of its partitions (nil: all).
type topicParts struct {
	topic string
	parts []int32
}

// parseTopicParts parses "TOPIC" or "TOPIC:P,P,...".
func parseTopicParts(s string) (topicParts, error) {
	name, ps, hasParts := strings.Cut(s, ":")
	if name == "" {
		return topicParts{}, fmt.Errorf("--topic %q: want TOPIC or TOPIC:PARTITION,...", s)
	}
	tp := topicParts{topic: name}
	if !hasParts {
		return tp, nil
	}
	for _, p := range strings.Split(ps, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(p), 10, 32)
		if err != nil || n < 0 {
			return topicParts{}, fmt.Errorf("--topic %q: %q is not a partition number", s, p)
		}
		if !slices.Contains(tp.parts, int32(n)) {
			tp.parts = append(tp.parts, int32(n))
		}
	}
	return tp, nil
}

func groupResetOffsets(args []string, stdout, stderr io.Writer) int {
	const cmd = "group reset-offsets"
	fl, cf := groupFlags("reset-offsets", "GROUP", stderr)
	var topicFlags listFlag
	fl.Var(&topicFlags, "topic", "reset this topic, TOPIC for all its partitions or TOPIC:P,P,... for some (repeatable)")
	allTopics := fl.Bool("all-topics", false, "reset every partition the group has a committed offset for")
	fl.Bool("to-earliest", false, "move to each partition's log start offset")
	fl.Bool("to-latest", false, "move to each partition's log end offset")
	toOffset := fl.Int64("to-offset", 0, "move to this offset (kept within each partition's start and end offsets)")
	toTimestamp := fl.String("to-timestamp", "", "move to the first record at or after this time, MILLISECONDS or RFC3339 (the end offset if there is none)")
	shiftBy := fl.Int64("shift-by", 0, "move the committed offset by this many records, back if negative (kept within the start and end offsets)")
	execute := fl.Bool("execute", false, "commit the new offsets (without it, only print them)")
	dryRun := fl.Bool("dry-run", false, "only print the new offsets (the default)")
	pos, err := parseFlags(fl, args)
	if err != nil {
		return parseExit(err)
	}
	if len(pos) != 1 {
		return usageErr(stderr, cmd, "want exactly one GROUP, got %d arguments", len(pos))
	}
	group := pos[0]
	var spec resetSpec
	var specs []string
	fl.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "to-earliest", "to-latest":
			if f.Value.String() != "true" {
				return
			}
			spec.kind = map[string]resetKind{"to-earliest": resetEarliest, "to-latest": resetLatest}[f.Name]
		case "to-offset":
			spec = resetSpec{resetOffset, *toOffset}
		case "to-timestamp":
			spec.kind = resetTimestamp
		case "shift-by":
			spec = resetSpec{resetShift, *shiftBy}
		default:
			return
		}
		specs = append(specs, "--"+f.Name)
	})
	switch {
	case len(specs) == 0:
		return usageErr(stderr, cmd, "say where to: --to-earliest, --to-latest, --to-offset N, --to-timestamp T or --shift-by N")
	case len(specs) > 1:
		return usageErr(stderr, cmd, "%s: give only one of them", strings.Join(specs, ", "))
	}
	if spec.kind == resetOffset && spec.n < 0 {
		return usageErr(stderr, cmd, "--to-offset %d: want an offset >= 0", spec.n)
	}
	if spec.kind == resetTimestamp {
		from, err := parseFrom("timestamp:" + *toTimestamp)
		if err != nil {
			return usageErr(stderr, cmd, "--to-timestamp %q: want MILLISECONDS or RFC3339 (2006-01-02T15:04:05Z)", *toTimestamp)
		}
		spec.n = from.n
	}
	if len(topicFlags) == 0 && !*allTopics {
		return usageErr(stderr, cmd, "say which partitions: --topic TOPIC[:P,...] or --all-topics")
	}
	if len(topicFlags) > 0 && *allTopics {
		return usageErr(stderr, cmd, "--topic and --all-topics: give only one of them")
	}
	if *execute && *dryRun {
		return usageErr(stderr, cmd, "--execute and --dry-run: give only one of them")
	}
	var tps []topicParts
	for _, s := range topicFlags {
		tp, err := parseTopicParts(s)
		if err != nil {
			return usageErr(stderr, cmd, "%v", err)
		}
		tps = append(tps, tp)
	}

	adm, err := cf.admin()
	if err != nil {
		return usageErr(stderr, cmd, "%v", err)
	}
	defer adm.Close()
	ctx, cancel := cf.requestContext()
	defer cancel()
	r := &resetter{cf: cf, adm: adm, group: group, spec: spec, stderr: stderr}
	plan, err := r.plan(ctx, tps, *allTopics)
	if err != nil {
		fmt.Fprintf(stderr, "weir %s: group %s: %s\n", cmd, group, cf.errText(err, errMessage(err)))
		return 1
	}

	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tCURRENT-OFFSET\tNEW-OFFSET")
	for _, p := range plan {
		cur := "-"
		if p.current >= 0 {
			cur = strconv.FormatInt(p.current, 10)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\n", p.topic, p.partition, cur, p.next)
	}
	tw.Flush()
	if !*execute {
		fmt.Fprintf(stderr, "weir %s: dry run, nothing committed: add --execute to commit these offsets for group %s\n", cmd, group)
		return 0
	}

	var offs kadm.Offsets
	for _, p := range plan {
		offs.Add(kadm.Offset{Topic: p.topic, Partition: p.partition, At: p.next, LeaderEpoch: -1})
	}
	resps, err := adm.CommitOffsets(ctx, group, offs)
	if err != nil {
		fmt.Fprintf(stderr, "weir %s: group %s: committing: %s%s\n", cmd, group, cf.errText(err, ""), commitHint(err))
		return 1
	}
	failed := 0
	for _, o := range resps.Sorted() {
		if o.Err != nil {
			fmt.Fprintf(stderr, "weir %s: group %s: %s partition %d: %s%s\n", cmd, group, o.Topic, o.Partition, cf.errText(o.Err, ""), commitHint(o.Err))
			failed++
		}
	}
	if failed > 0 {
		return 1
	}
	n := "1 partition"
	if len(plan) != 1 {
		n = strconv.Itoa(len(plan)) + " partitions"
	}
	fmt.Fprintf(stderr, "weir %s: group %s: committed the new offsets of %s\n", cmd, group, n)
	return 0
}

// commitHint explains the errors a commit gets when the group became
// active between the state check and the commit.
func commitHint(err error) string {
	if errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.IllegalGeneration) || errors.Is(err, kerr.RebalanceInProgress) {
		return " (the group has active members again: stop its consumers first)"
	}
	return ""
}

// resetter computes a reset-offsets plan.
type resetter struct {
	cf     *clientFlags
	adm    *kadm.Client
	group  string
	spec   resetSpec
	stderr io.Writer
}

// planned is one partition's move.
type planned struct {
	topic     string
	partition int32
	current   int64 // -1: no committed offset
	next      int64
}

// plan checks that the group is inactive, resolves the partitions to reset
// and computes their new offsets.
func (r *resetter) plan(ctx context.Context, tps []topicParts, allTopics bool) ([]planned, error) {
	described, err := r.adm.DescribeGroups(ctx, r.group)
	var dg kadm.DescribedGroup
	if err == nil {
		dg, err = described.On(r.group, nil)
	}
	if err == nil && dg.Err != nil {
		err = &msgError{dg.Err, dg.ErrMessage}
	}
	switch {
	case errors.Is(err, kerr.GroupIDNotFound):
		// A group that does not exist yet: committing creates it.
	case err != nil:
		return nil, fmt.Errorf("describing the group: %w", err)
	case dg.State != "Empty" && dg.State != "Dead":
		members := "1 member"
		if len(dg.Members) != 1 {
			members = strconv.Itoa(len(dg.Members)) + " members"
		}
		return nil, fmt.Errorf("offsets can only be reset while the group is inactive (Empty), but it is %s with %s: stop its consumers first", dg.State, members)
	}

	committed, err := r.adm.FetchOffsets(ctx, r.group)
	if err == nil {
		err = committed.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("fetching committed offsets: %w", err)
	}

	// targets: topic -> partitions to reset.
	targets := map[string][]int32{}
	if allTopics {
		committed.Each(func(o kadm.OffsetResponse) {
			if o.At >= 0 {
				targets[o.Topic] = append(targets[o.Topic], o.Partition)
			}
		})
		if len(targets) == 0 {
			return nil, errors.New("no committed offsets to reset (--all-topics resets the partitions the group has committed to; name topics with --topic)")
		}
	} else {
		names := make([]string, 0, len(tps))
		for _, tp := range tps {
			if !slices.Contains(names, tp.topic) {
				names = append(names, tp.topic)
			}
		}
		tds, err := r.adm.ListTopics(ctx, names...)
		if err != nil {
			return nil, fmt.Errorf("listing topics: %w", err)
		}
		whole := map[string]bool{}
		for _, tp := range tps {
			td, ok := tds[tp.topic]
			switch {
			case !ok:
				return nil, fmt.Errorf("topic %s: missing from the metadata response", tp.topic)
			case td.Err != nil:
				return nil, fmt.Errorf("topic %s: %w", tp.topic, td.Err)
			}
			if tp.parts == nil {
				whole[tp.topic] = true
				continue
			}
			for _, p := range tp.parts {
				if _, ok := td.Partitions[p]; !ok {
					return nil, fmt.Errorf("topic %s has no partition %d", tp.topic, p)
				}
				if !slices.Contains(targets[tp.topic], p) {
					targets[tp.topic] = append(targets[tp.topic], p)
				}
			}
		}
		for t := range whole {
			targets[t] = nil
			for p := range tds[t].Partitions {
				targets[t] = append(targets[t], p)
			}
		}
	}
	topics := make([]string, 0, len(targets))
	for t := range targets {
		topics = append(topics, t)
	}
	slices.Sort(topics)

	list := func(what string) func(kadm.ListedOffsets, error) (kadm.ListedOffsets, error) {
		return func(l kadm.ListedOffsets, err error) (kadm.ListedOffsets, error) {
			if err == nil {
				err = l.Error()
			}
			if err != nil {
				return nil, fmt.Errorf("listing %s offsets: %w", what, err)
			}
			return l, nil
		}
	}
	starts, err := list("start")(r.adm.ListStartOffsets(ctx, topics...))
	if err != nil {
		return nil, err
	}
	ends, err := list("end")(r.adm.ListEndOffsets(ctx, topics...))
	if err != nil {
		return nil, err
	}
	var byTime kadm.ListedOffsets
	if r.spec.kind == resetTimestamp {
		if byTime, err = list("timestamp")(r.adm.ListOffsetsAfterMilli(ctx, r.spec.n, topics...)); err != nil {
			return nil, err
		}
	}

	var plan []planned
	for _, t := range topics {
		ps := slices.Clone(targets[t])
		slices.Sort(ps)
		for _, p := range ps {
			start, ok1 := starts.Lookup(t, p)
			end, ok2 := ends.Lookup(t, p)
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("topic %s partition %d: missing from the list offsets response (does the partition exist?)", t, p)
			}
			cur := int64(-1)
			if o, ok := committed.Lookup(t, p); ok && o.At >= 0 {
				cur = o.At
			}
			var next int64
			switch r.spec.kind {
			case resetEarliest:
				next = start.Offset
			case resetLatest:
				next = end.Offset
			case resetOffset:
				next = r.spec.n
			case resetTimestamp:
				next = end.Offset
				if o, ok := byTime.Lookup(t, p); ok && o.Offset >= 0 {
					next = o.Offset
				}
			case resetShift:
				if cur < 0 {
					return nil, fmt.Errorf("topic %s partition %d: no committed offset to shift", t, p)
				}
				next = addClamped(cur, r.spec.n)
			}
			switch {
			case next < start.Offset:
				fmt.Fprintf(r.stderr, "weir group reset-offsets: %s partition %d: offset %d is before the log start offset; using %d\n", t, p, next, start.Offset)
				next = start.Offset
			case next > end.Offset:
				fmt.Fprintf(r.stderr, "weir group reset-offsets: %s partition %d: offset %d is past the log end offset; using %d\n", t, p, next, end.Offset)
				next = end.Offset
			}
			plan = append(plan, planned{t, p, cur, next})
		}
	}
	return plan, nil
}

// addClamped is a+b without overflowing.
func addClamped(a, b int64) int64 {
	switch {
	case b > 0 && a > math.MaxInt64-b:
		return math.MaxInt64
	case b < 0 && a < math.MinInt64-b:
		return math.MinInt64
	}
	return a + b
}

// dash is s, or "-" when s is empty.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
