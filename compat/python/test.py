"""Weir against kafka-python (Debian's python3-kafka, a pure Python client).

Admin APIs, produce with acks all/1/0 and gzip, consume back with exact
content, offsets (earliest, latest, by time), and a consumer group that
resumes from its commit. Usage: python3 test.py HOST:PORT. Exits non-zero on
any mismatch; every wait is bounded.
"""

import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions, NewTopic

BOOTSTRAP = sys.argv[1]


def fail(msg):
    print("compat kafka-python: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def ok(msg):
    print("ok: kafka-python: " + msg)


def same(what, want, got):
    if want != got:
        fail("%s: got %r, want %r" % (what, got, want))


def main():
    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP, request_timeout_ms=15000)
    topic = "kafka-python-%d" % int(time.time() * 1000)
    admin.create_topics([NewTopic(topic, 3, 1, topic_configs={"retention.ms": "3600000"})])
    if topic not in admin.list_topics():
        fail("list_topics does not list " + topic)
    admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs={"retention.ms": "7200000"})])
    resp = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    entries = {e[0]: e[1] for r in resp for res in r.resources for e in res[4]}
    same("retention.ms after alter_configs", "7200000", entries.get("retention.ms"))
    admin.create_partitions({topic: NewPartitions(4)})
    ok("admin: create, list, alter/describe configs, create partitions")

    expect = []
    for acks, codec in (("all", None), (1, "gzip"), (0, None)):
        producer = KafkaProducer(bootstrap_servers=BOOTSTRAP, acks=acks, compression_type=codec,
                                 request_timeout_ms=15000)
        futures = []
        for i in range(40):
            key, value = b"k%d" % (i % 5), b"%s-%d" % (str(acks).encode(), i)
            futures.append(producer.send(topic, key=key, value=value, headers=[("h", value)]))
            expect.append((key, value))
        producer.flush(15)
        if acks != 0:
            for f in futures:
                f.get(15)
        producer.close(5)
    ok("produced %d records (acks all, 1 with gzip, 0)" % len(expect))

    consumer = KafkaConsumer(bootstrap_servers=BOOTSTRAP, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=10000)
    tps = [TopicPartition(topic, p) for p in range(4)]
    consumer.assign(tps)
    deadline = time.time() + 15  # acks=0 records become visible once durable
    while True:
        end, beg = consumer.end_offsets(tps), consumer.beginning_offsets(tps)
        total = sum(end[t] - beg[t] for t in tps)
        if total == len(expect) or time.time() > deadline:
            break
        time.sleep(0.1)
    same("records in the topic", len(expect), total)
    times = consumer.offsets_for_times({t: int(time.time() * 1000) - 60000 for t in tps})
    for t in tps:
        want = 0 if end[t] > 0 else None
        got = times[t].offset if times[t] is not None else None
        same("offset by time of partition %d" % t.partition, want, got)
    ok("offsets: earliest, latest, by timestamp")

    got, next_offset = [], {}
    for m in consumer:
        same("offset in partition %d" % m.partition, next_offset.get(m.partition, 0), m.offset)
        next_offset[m.partition] = m.offset + 1
        same("header of %r" % m.value, [("h", m.value)], m.headers)
        got.append((m.key, m.value))
        if len(got) == len(expect):
            break
    consumer.close()
    same("consumed records", sorted(expect), sorted(got))
    order = {v: i for i, (_, v) in enumerate(expect)}
    last = {}
    for key, value in got:
        if key in last and order[value] < last[key]:
            fail("key %r: %r read after a later record" % (key, value))
        last[key] = order[value]
    ok("consumed %d records: exact, dense offsets, ordered per key" % len(got))

    group = "g-" + topic

    def group_read(want):
        c = KafkaConsumer(topic, bootstrap_servers=BOOTSTRAP, group_id=group, auto_offset_reset="earliest",
                          enable_auto_commit=False, consumer_timeout_ms=20000)
        out = []
        for m in c:
            out.append(m.value)
            if len(out) == want:
                break
        c.commit()
        c.close()
        return out

    same("records read by the group", sorted(v for _, v in expect), sorted(group_read(len(expect))))
    producer = KafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all")
    for i in range(5):
        producer.send(topic, value=b"more-%d" % i).get(15)
    producer.close(5)
    same("records read on resuming the group", [b"more-%d" % i for i in range(5)], sorted(group_read(5)))
    ok("consumer group committed and resumed from its commit")

    if (group, "consumer") not in admin.list_consumer_groups():
        fail("list_consumer_groups does not list " + group)
    committed = admin.list_consumer_group_offsets(group)
    same("committed records", len(expect) + 5, sum(o.offset for o in committed.values()))
    admin.delete_topics([topic])
    admin.close()
    ok("groups: list, committed offsets; topic deleted")
    print("compat kafka-python: PASS")


if __name__ == "__main__":
    main()
