"""Weir against kafka-python 2.0.2 (Debian's python3-kafka), a Kafka client
written in Python with protocol code of its own.

Usage: python3 test.py HOST:PORT

What a user does with kafka-python, each result checked exactly:
  - admin: describe_cluster, create_topics (partitions, configs; again:
    TOPIC_ALREADY_EXISTS; validate_only), list_topics, describe_topics,
    describe_configs (topic and broker), alter_configs, create_partitions,
    describe/list/delete consumer groups, list_consumer_group_offsets,
    delete_topics;
  - produce keyed records with headers (a repeated header key, a null key,
    a tombstone, one large value) to chosen partitions with acks all, 1 and
    0, uncompressed and gzip, plus snappy, lz4 and zstd when their Python
    modules happen to be installed (kafka-python needs native modules for
    those; this script does not install them);
  - consume everything from the beginning (assign, seek_to_beginning) and
    compare every partition's records (offset, key, value, headers,
    timestamp) with what was produced, in order;
  - beginning_offsets, end_offsets, offsets_for_times (before, inside and
    between batches, future);
  - a consumer group reads everything, commits, and a second run resumes
    from the commit (no record read twice); two members (threads) split the
    partitions and the survivor takes them all when the other leaves;
    describe_consumer_groups shows their subscriptions and assignments;
  - a LogAppendTime topic: the broker's time in the produce response and in
    the records read (kafka-python checks each batch's CRC).

The idempotent producer is not tested: kafka-python 2.0.2 has none (no
enable_idempotence, no InitProducerId; it came in later releases).

Protocol versions: kafka-python 2.0.2 reads ApiVersions, takes Weir for a
Kafka 2.4 broker and speaks Produce v7, Fetch v4, ListOffsets v1, Metadata
v1/v5, JoinGroup v2, SyncGroup/Heartbeat/LeaveGroup v1, OffsetCommit v2,
OffsetFetch v1/v2: all within what Kafka 4.x still serves (KIP-896). Pinning
api_version below (0, 11) makes it send Produce v2 and Fetch v3, which
Kafka 4.x and Weir refuse alike.

Exits 1 with "compat kafka-python: FAIL: ..." on the first mismatch. Every
request has a timeout, every wait a deadline, and the whole run one too.
"""

import os
import sys
import threading
import time

import kafka.codec
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions, NewTopic
from kafka.errors import TopicAlreadyExistsError

BOOTSTRAP = sys.argv[1]
RUN = int(time.time() * 1000)
COMMON = dict(bootstrap_servers=BOOTSTRAP, request_timeout_ms=15000, api_version_auto_timeout_ms=5000,
              reconnect_backoff_max_ms=1000)
CONSUMER = dict(COMMON, session_timeout_ms=10000, heartbeat_interval_ms=500, max_poll_interval_ms=20000,
                fetch_max_wait_ms=200, consumer_timeout_ms=20000)


def name(s):
    return "kafka-python-%s-%d" % (s, RUN)


def fail(msg):
    print("compat kafka-python: FAIL: " + msg, file=sys.stderr, flush=True)
    os._exit(1)


def ok(msg):
    print("ok: kafka-python: " + msg, flush=True)


def same(what, want, got):
    if want != got:
        fail("%s:\n  got  %.600r\n  want %.600r" % (what, got, want))


def until(seconds, what, fn):
    deadline = time.time() + seconds
    while True:
        v = fn()
        if v:
            return v
        if time.time() > deadline:
            fail("%s: not true after %d s" % (what, seconds))
        time.sleep(0.1)


def show(key, value, headers, ts):
    """A record for comparison; large values summarised."""
    if value is not None and len(value) > 100:
        value = b"<%d bytes ...%s>" % (len(value), value[-16:])
    return (key, value, list(headers), ts)


def codecs():
    out = [None, "gzip"]
    for codec, have in (("snappy", kafka.codec.has_snappy), ("lz4", kafka.codec.has_lz4),
                        ("zstd", kafka.codec.has_zstd)):
        if have():
            out.append(codec)
    return out


def errors_of(resp, field):
    """Error codes of the per-topic or per-resource entries of a response."""
    return [e[1] for e in getattr(resp, field)]


def admin_checks(admin):
    cluster = admin.describe_cluster()
    same("describe_cluster brokers", 1, len(cluster["brokers"]))
    node = cluster["brokers"][0]["node_id"]
    same("describe_cluster controller", node, cluster["controller_id"])

    topic = name("main")
    resp = admin.create_topics([NewTopic(topic, 3, 1, topic_configs={"retention.ms": "3600000",
                                                                     "max.message.bytes": "2000000"})])
    same("create_topics errors", [0], errors_of(resp, "topic_errors"))
    try:
        admin.create_topics([NewTopic(topic, 3, 1)])
        fail("create_topics of an existing topic succeeded")
    except TopicAlreadyExistsError:
        pass
    resp = admin.create_topics([NewTopic(name("validate-only"), 2, 1)], validate_only=True)
    same("create_topics validate_only errors", [0], errors_of(resp, "topic_errors"))
    topics = admin.list_topics()
    if topic not in topics:
        fail("list_topics does not list " + topic)
    if name("validate-only") in topics:
        fail("create_topics with validate_only created the topic")

    def describe(configs):
        got = {}
        for resp in admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs=configs)]):
            for res in resp.resources:
                same("describe_configs error", 0, res[0])
                for e in res[4]:
                    got[e[0]] = (e[1], e[3])  # value, source
        return got

    # Sources: 1 is DYNAMIC_TOPIC_CONFIG, 5 DEFAULT_CONFIG.
    same("describe_configs", {"max.message.bytes": ("2000000", 1), "retention.ms": ("3600000", 1)},
         describe({"retention.ms": None, "max.message.bytes": None}))
    if "segment.bytes" not in describe(None):
        fail("describe_configs of all configs has no segment.bytes")
    # AlterConfigs replaces the topic's overrides: max.message.bytes, left
    # out, goes back to its default.
    resp = admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs={"retention.ms": "7200000"})])
    same("alter_configs errors", [0], [r[0] for r in resp.resources])
    same("describe_configs after alter_configs", {"max.message.bytes": ("1048588", 5), "retention.ms": ("7200000", 1)},
         describe({"retention.ms": None, "max.message.bytes": None}))
    broker = {}
    for resp in admin.describe_configs([ConfigResource(ConfigResourceType.BROKER, str(node))]):
        for res in resp.resources:
            same("describe_configs of the broker: error", 0, res[0])
            broker.update({e[0]: e[1] for e in res[4]})
    if "log.retention.ms" not in broker and "log.retention.hours" not in broker:
        fail("describe_configs of the broker has no log.retention: %r" % sorted(broker)[:20])

    resp = admin.create_partitions({topic: NewPartitions(4)})
    same("create_partitions errors", [0], errors_of(resp, "topic_errors"))
    desc = admin.describe_topics([topic])
    same("describe_topics error", 0, desc[0]["error_code"])
    same("describe_topics partitions after create_partitions", [(p, node, [node], [node]) for p in range(4)],
         sorted((p["partition"], p["leader"], p["replicas"], p["isr"]) for p in desc[0]["partitions"]))
    ok("admin: describe_cluster, create_topics (exists, validate_only), list_topics, describe_topics, "
       "describe/alter_configs (topic, broker), create_partitions")
    return topic


def produce(topic):
    """Sends the test records; returns them per partition as expected."""
    want = {p: [] for p in range(4)}
    base = int(time.time() * 1000) - 3600000
    n = 0
    for codec in codecs():
        for acks in ("all", 1, 0):
            producer = KafkaProducer(acks=acks, compression_type=codec, linger_ms=5, **COMMON)
            futures = []
            for i in range(40):
                p = i % 4
                key = b"k%d" % (i % 7)
                value = b"%s-%s-%d " % (str(codec).encode(), str(acks).encode(), i) + b"x" * (i * 3)
                if i == 5:
                    key = None
                if i == 6:
                    value = None
                if i == 7 and acks == 1:
                    value = b"L" * 300000 + str(codec).encode()
                headers = [("run", b"%s/%s" % (str(codec).encode(), str(acks).encode())), ("seq", b"%d" % i),
                           ("multi", b"first"), ("multi", b"second")]
                ts = base + n
                n += 1
                futures.append(producer.send(topic, key=key, value=value, headers=headers, partition=p,
                                             timestamp_ms=ts))
                want[p].append(show(key, value, headers, ts))
            producer.flush(15)
            for f in futures:
                md = f.get(15)
                if acks != 0 and md.offset < 0:
                    fail("produce %s acks=%s: offset %d" % (codec, acks, md.offset))
            producer.close(5)
    ok("produced %d records to 4 partitions (acks all, 1, 0; codecs %s)" % (n, ", ".join(map(str, codecs()))))
    return want


def offsets(topic, want, admin):
    tps = [TopicPartition(topic, p) for p in range(4)]
    consumer = KafkaConsumer(**CONSUMER)
    # acks=0 gives no answer: the records are there once the end offsets
    # add up.
    until(10, "all records in the topic",
          lambda: sum(consumer.end_offsets(tps).values()) == sum(len(w) for w in want.values()))
    same("beginning_offsets", {tp: 0 for tp in tps}, consumer.beginning_offsets(tps))
    same("end_offsets", {tp: len(want[tp.partition]) for tp in tps}, consumer.end_offsets(tps))

    # A topic with known timestamps: two batches per partition, five records
    # each, the second an hour after the first.
    ts = name("times")
    same("create_topics errors", [0], errors_of(admin.create_topics([NewTopic(ts, 2, 1)]), "topic_errors"))
    t0 = int(time.time() * 1000) - 7200000
    producer = KafkaProducer(acks="all", linger_ms=50, **COMMON)
    for base in (t0, t0 + 3600000):
        for p in (0, 1):
            for i in range(5):
                producer.send(ts, value=b"t%d" % i, partition=p, timestamp_ms=base + i * 10)
        producer.flush(15)
    producer.close(5)
    ttps = [TopicPartition(ts, p) for p in (0, 1)]
    until(10, "records of the time topic", lambda: consumer.end_offsets(ttps) == {tp: 10 for tp in ttps})

    def by_time(t):
        got = consumer.offsets_for_times({tp: t for tp in ttps})
        return [(tp.partition, None if got[tp] is None else (got[tp].offset, got[tp].timestamp)) for tp in ttps]

    same("offsets_for_times before everything", [(0, (0, t0)), (1, (0, t0))], by_time(t0 - 1000))
    same("offsets_for_times of a record inside the first batch", [(0, (2, t0 + 20)), (1, (2, t0 + 20))],
         by_time(t0 + 20))
    same("offsets_for_times between records inside the first batch", [(0, (3, t0 + 30)), (1, (3, t0 + 30))],
         by_time(t0 + 21))
    same("offsets_for_times between the batches", [(0, (5, t0 + 3600000)), (1, (5, t0 + 3600000))],
         by_time(t0 + 60000))
    same("offsets_for_times inside the second batch", [(0, (9, t0 + 3600040)), (1, (9, t0 + 3600040))],
         by_time(t0 + 3600035))
    same("offsets_for_times of a future time", [(0, None), (1, None)], by_time(int(time.time() * 1000) + 3600000))
    consumer.close()
    admin.delete_topics([ts])
    ok("offsets: beginning_offsets, end_offsets, offsets_for_times (before, inside and between batches, future)")


def read_partitions(consumer, n, what):
    """Polls until n records, then a little longer for any extra one."""
    got = {}
    count = 0
    deadline = time.time() + 30
    settle = None
    while settle is None or time.time() < settle:
        if time.time() > deadline:
            fail("%s: %d of %d records after 30 s" % (what, count, n))
        for tp, msgs in consumer.poll(timeout_ms=200).items():
            for m in msgs:
                same("%s: timestamp type" % what, 0, m.timestamp_type)
                got.setdefault(tp.partition, []).append((m.offset, show(m.key, m.value, m.headers, m.timestamp)))
                count += 1
        if count >= n and settle is None:
            settle = time.time() + 1
    same("%s: records read" % what, n, count)
    return got


def check_partitions(what, want, got, start=None):
    for p in sorted(set(want) | set(got)):
        w, g = want.get(p, []), got.get(p, [])
        s = (start or {}).get(p, 0)
        same("%s: partition %d offsets" % (what, p), list(range(s, s + len(w))), [r[0] for r in g])
        same("%s: partition %d records" % (what, p), w, [r[1] for r in g])


def consume(topic, want):
    consumer = KafkaConsumer(**CONSUMER)
    tps = [TopicPartition(topic, p) for p in range(4)]
    consumer.assign(tps)
    consumer.seek_to_beginning()
    got = read_partitions(consumer, sum(len(w) for w in want.values()), "consume from the beginning")
    consumer.close()
    check_partitions("consume from the beginning", {p: w for p, w in want.items() if w}, got)
    ok("consumed %d records: every partition exact and in order (keys, values, headers, timestamps)"
       % sum(len(w) for w in want.values()))


def groups(topic, want, admin):
    group = name("group")

    def group_read(n, what):
        c = KafkaConsumer(topic, group_id=group, auto_offset_reset="earliest", enable_auto_commit=False, **CONSUMER)
        got = read_partitions(c, n, what)
        c.commit()
        committed = {p: c.committed(TopicPartition(topic, p)) for p in range(4)}
        c.close()
        return got, committed

    total = sum(len(w) for w in want.values())
    got, committed = group_read(total, "first read of the group")
    check_partitions("first read of the group", {p: w for p, w in want.items() if w}, got)
    same("committed offsets after the first read", {p: len(want[p]) for p in range(4)}, committed)

    producer = KafkaProducer(acks="all", **COMMON)
    more = {p: [] for p in range(4)}
    for i in range(12):
        ts = int(time.time() * 1000)
        producer.send(topic, key=b"more", value=b"more-%d" % i, partition=i % 4, timestamp_ms=ts).get(15)
        more[i % 4].append(show(b"more", b"more-%d" % i, [], ts))
    producer.close(5)
    got, committed = group_read(12, "the group resuming")
    check_partitions("the group resuming from its commit", more, got, {p: len(want[p]) for p in range(4)})
    ok("consumer group committed and resumed from its commit: no record read twice")

    if (group, "consumer") not in admin.list_consumer_groups():
        fail("list_consumer_groups does not list %s: %r" % (group, admin.list_consumer_groups()))
    desc = admin.describe_consumer_groups([group])[0]
    same("describe_consumer_groups of the stopped group", (0, group, "Empty", "consumer", 0),
         (desc.error_code, desc.group, desc.state, desc.protocol_type, len(desc.members)))
    offs = admin.list_consumer_group_offsets(group)
    same("list_consumer_group_offsets", {TopicPartition(topic, p): len(want[p]) + len(more[p]) for p in range(4)},
         {tp: o.offset for tp, o in offs.items()})
    same("delete_consumer_groups", [(group, "NoError")], [(g, e.__name__) for g, e in admin.delete_consumer_groups([group])])
    if any(g == group for g, _ in admin.list_consumer_groups()):
        fail("delete_consumer_groups left " + group)
    ok("groups: list, describe, committed offsets, delete")
    return more


class Member(threading.Thread):
    """A group member polling in a thread of its own (kafka-python
    consumers are not thread-safe, so each one stays in its thread)."""

    def __init__(self, group, topic):
        super().__init__(daemon=True)
        self.group, self.topic = group, topic
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.assignment = None
        self.records = {}
        self.error = None

    def run(self):
        try:
            c = KafkaConsumer(self.topic, group_id=self.group, auto_offset_reset="latest", **CONSUMER)
            while not self.stop.is_set():
                polled = c.poll(timeout_ms=100)
                with self.lock:
                    self.assignment = sorted(tp.partition for tp in c.assignment())
                    for tp, msgs in polled.items():
                        for m in msgs:
                            self.records.setdefault(tp.partition, []).append((m.offset, m.value))
            c.close()
        except Exception as e:  # reported by the main thread
            self.error = e

    def get(self):
        if self.error is not None:
            fail("group member: %r" % self.error)
        with self.lock:
            return self.assignment, {p: list(r) for p, r in self.records.items()}


def rebalance(topic, admin):
    group = name("pair")
    m1 = Member(group, topic)
    m1.start()
    until(20, "first member assigned all 4 partitions", lambda: m1.get()[0] == [0, 1, 2, 3])
    m2 = Member(group, topic)
    m2.start()

    def split():
        a1, a2 = m1.get()[0], m2.get()[0]
        return a1 and a2 and sorted(a1 + a2) == [0, 1, 2, 3] and len(a1) == 2
    until(30, "the two members split the 4 partitions 2/2", split)
    a1, a2 = m1.get()[0], m2.get()[0]
    desc = admin.describe_consumer_groups([group])[0]
    same("describe_consumer_groups of the pair", ("Stable", "consumer", 2),
         (desc.state, desc.protocol_type, len(desc.members)))
    if desc.protocol not in ("range", "roundrobin"):
        fail("describe_consumer_groups protocol: %r" % desc.protocol)
    same("describe_consumer_groups: members' subscriptions", [[topic], [topic]],
         [list(m.member_metadata.subscription) for m in desc.members])
    same("describe_consumer_groups: members' assignments", sorted([a1, a2]),
         sorted(sorted(p for t, ps in m.member_assignment.assignment if t == topic for p in ps) for m in desc.members))
    for m in desc.members:
        if not m.client_host.startswith("/") or not m.client_id.startswith("kafka-python"):
            fail("describe_consumer_groups: client id %r, host %r" % (m.client_id, m.client_host))

    consumer = KafkaConsumer(**COMMON)
    tps = [TopicPartition(topic, p) for p in range(4)]
    end = consumer.end_offsets(tps)
    consumer.close()
    producer = KafkaProducer(acks="all", **COMMON)
    for p in range(4):
        producer.send(topic, value=b"pair-%d" % p, partition=p).get(15)
    producer.close(5)

    def delivered():
        r1, r2 = m1.get()[1], m2.get()[1]
        return all(r1.get(p) for p in a1) and all(r2.get(p) for p in a2)
    until(15, "both members read the records of their partitions", delivered)
    for m, asg in ((m1, a1), (m2, a2)):
        recs = m.get()[1]
        same("partitions a member read", sorted(asg), sorted(recs))
        for p in asg:
            same("records read from partition %d" % p, [(end[TopicPartition(topic, p)], b"pair-%d" % p)], recs[p])

    m2.stop.set()
    m2.join(20)
    until(20, "the first member took all 4 partitions", lambda: m1.get()[0] == [0, 1, 2, 3])
    m1.stop.set()
    m1.join(20)
    ok("two members split 4 partitions 2/2, each read its own; the survivor took all 4")


def log_append_time(admin):
    """A LogAppendTime topic: the broker stamps each batch (rewriting its
    max timestamp and CRC, which kafka-python checks), answers the time in
    the produce response, and consumers read that time."""
    topic = name("append-time")
    resp = admin.create_topics([NewTopic(topic, 1, 1, topic_configs={"message.timestamp.type": "LogAppendTime"})])
    same("create_topics errors", [0], errors_of(resp, "topic_errors"))
    before = int(time.time() * 1000)
    stamps = []
    for codec in (None, "gzip"):
        producer = KafkaProducer(acks="all", compression_type=codec, linger_ms=20, **COMMON)
        futures = [producer.send(topic, value=v, timestamp_ms=t) for v, t in ((b"a", 1000), (b"b", 2000))]
        producer.flush(15)
        for f in futures:
            md = f.get(15)
            if not before <= md.timestamp <= time.time() * 1000:
                fail("produce to a LogAppendTime topic: timestamp %d, want the broker's time" % md.timestamp)
            stamps.append(md.timestamp)
        producer.close(5)
    consumer = KafkaConsumer(**CONSUMER)
    consumer.assign([TopicPartition(topic, 0)])
    consumer.seek_to_beginning()
    got = []
    deadline = time.time() + 15
    while len(got) < 4 and time.time() < deadline:
        for msgs in consumer.poll(timeout_ms=200).values():
            got.extend((m.timestamp_type, m.timestamp) for m in msgs)
    consumer.close()
    same("timestamps read from a LogAppendTime topic", [(1, t) for t in stamps], got)
    admin.delete_topics([topic])
    ok("LogAppendTime topic: broker time in the produce response and in the records read (CRCs checked)")


def main():
    admin = KafkaAdminClient(**COMMON)
    topic = admin_checks(admin)
    want = produce(topic)
    offsets(topic, want, admin)
    consume(topic, want)
    groups(topic, want, admin)
    rebalance(topic, admin)
    log_append_time(admin)
    same("delete_topics errors", [0], errors_of(admin.delete_topics([topic]), "topic_error_codes"))
    until(5, "topic deleted", lambda: topic not in admin.list_topics())
    admin.close()
    ok("delete_topics")
    print("compat kafka-python: PASS", flush=True)


if __name__ == "__main__":
    watchdog = threading.Timer(130, fail, ["did not finish within 130 s"])
    watchdog.daemon = True
    watchdog.start()
    try:
        main()
    except Exception as e:
        import traceback
        traceback.print_exc()
        fail(repr(e))
    os._exit(0)
