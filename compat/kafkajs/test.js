// Weir against kafkajs, a Kafka client written in JavaScript with protocol
// code of its own. Usage: node test.js HOST:PORT
//
// What a user does with kafkajs, each result checked exactly:
//   - admin: describeCluster, createTopics (partitions, a config; again:
//     already exists; validateOnly), listTopics, fetchTopicMetadata,
//     describeConfigs, alterConfigs, createPartitions, deleteTopics;
//   - produce keyed records with headers (a repeated header key, a null
//     key, a tombstone, one large value) to chosen partitions with acks -1,
//     1 and 0, uncompressed and gzip (the only codec kafkajs has without
//     extra packages), and with the idempotent producer;
//   - consume everything from the beginning in a group and compare every
//     partition's records (offset, key, value, headers, timestamp) with
//     what was produced, in order;
//   - the group resumes from its commit (no record read twice), admin
//     fetchOffsets, setOffsets rewinds it, describe/list/delete groups;
//   - two members of one group split the partitions, and the survivor
//     takes them all when the other leaves;
//   - offsets: fetchTopicOffsets (earliest, latest), by timestamp (before,
//     inside a batch, after), deleteTopicRecords moves the earliest;
//   - a LogAppendTime topic: the broker's time in the produce response and
//     in the records read;
//   - a group whose committed offset fell below the log start restarts
//     from the earliest offset (OFFSET_OUT_OF_RANGE).
//
// Exits 1 with "compat kafkajs: FAIL: ..." on the first mismatch. Every
// request has a timeout, every wait a deadline, and the whole run one too.
'use strict'
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'
const { Kafka, logLevel, CompressionTypes, ConfigResourceTypes, AssignerProtocol } = require('kafkajs')

const kafka = new Kafka({
  clientId: 'weir-compat',
  brokers: [process.argv[2]],
  logLevel: logLevel.NOTHING,
  connectionTimeout: 5000,
  requestTimeout: 15000,
  retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 2000 },
})

const RUN = Date.now()
const name = s => `kafkajs-${s}-${RUN}`

function fail (msg) {
  console.error('compat kafkajs: FAIL: ' + msg)
  process.exit(1)
}
function ok (msg) { console.log('ok: kafkajs: ' + msg) }
function same (what, want, got) {
  const w = JSON.stringify(want)
  const g = JSON.stringify(got)
  if (w !== g) fail(`${what}:\n  got  ${g.slice(0, 600)}\n  want ${w.slice(0, 600)}`)
}
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

// within fails the test if promise has not settled after ms.
function within (ms, what, promise) {
  let timer
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((resolve, reject) => { timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms) }),
  ])
}

// until polls fn until it returns a truthy value, for at most ms.
async function until (ms, what, fn) {
  const deadline = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > deadline) fail(`${what}: not true after ${ms} ms`)
    await sleep(100)
  }
}

// headerList turns kafkajs headers ({k: Buffer | Buffer[]}) into sorted
// [key, value] pairs, repeated keys in their order.
function headerList (headers) {
  const out = []
  for (const k of Object.keys(headers || {}).sort()) {
    const vs = Array.isArray(headers[k]) ? headers[k] : [headers[k]]
    for (const v of vs) out.push([k, v === null ? null : v.toString()])
  }
  return out
}

// show renders a record for comparison: key|value|headers|timestamp, with
// large values summarised by length and a checksum-like tail.
function show (key, value, headers, ts) {
  const v = value === null ? '<null>' : value.length > 100 ? `<${value.length} bytes ...${value.slice(-16)}>` : value
  return [key === null ? '<null>' : key, v, JSON.stringify(headerList(headers)), ts].join('|')
}

// Consumer runs a group member and records what it reads per partition.
class Member {
  constructor (groupId, topic) {
    this.groupId = groupId
    this.topic = topic
    this.consumer = kafka.consumer({ groupId, sessionTimeout: 10000, rebalanceTimeout: 10000, heartbeatInterval: 500, maxWaitTimeInMs: 200 })
    this.records = {} // partition -> [offset, shown record]
    this.count = 0
    this.assignment = null // partitions after the latest join
    this.joins = 0
    this.consumer.on(this.consumer.events.GROUP_JOIN, e => {
      this.assignment = (e.payload.memberAssignment[topic] || []).slice().sort((a, b) => a - b)
      this.memberId = e.payload.memberId
      this.joins++
    })
  }

  async start () {
    await this.consumer.connect()
    await this.consumer.subscribe({ topics: [this.topic], fromBeginning: true })
    await this.consumer.run({
      eachMessage: async ({ partition, message }) => {
        const key = message.key === null ? null : message.key.toString()
        const value = message.value === null ? null : message.value.toString()
        if (!this.records[partition]) this.records[partition] = []
        this.records[partition].push([Number(message.offset), show(key, value, message.headers, message.timestamp)])
        this.count++
      },
    })
  }

  async stop () { await within(20000, `disconnect of a member of ${this.groupId}`, this.consumer.disconnect()) }
}

// checkPartitions compares what a consumer read with what was produced:
// per partition, the same records in the same order at offsets from..n.
function checkPartitions (what, want, got, from = {}) {
  for (const p of Object.keys({ ...want, ...got })) {
    const w = want[p] || []
    const g = got[p] || []
    const start = from[p] || 0
    same(`${what}: partition ${p} offsets`, w.map((_, i) => start + i), g.map(r => r[0]))
    same(`${what}: partition ${p} records`, w, g.map(r => r[1]))
  }
}

async function admin (a) {
  const cluster = await a.describeCluster()
  same('describeCluster brokers', 1, cluster.brokers.length)
  same('describeCluster controller', cluster.brokers[0].nodeId, cluster.controller)

  const topic = name('main')
  const created = await a.createTopics({
    topics: [{ topic, numPartitions: 3, configEntries: [{ name: 'retention.ms', value: '3600000' }, { name: 'max.message.bytes', value: '2000000' }] }],
    waitForLeaders: true,
  })
  same('createTopics of a new topic', true, created)
  same('createTopics of an existing topic', false, await a.createTopics({ topics: [{ topic, numPartitions: 3 }] }))
  await a.createTopics({ validateOnly: true, waitForLeaders: false, topics: [{ topic: name('validate-only'), numPartitions: 2 }] })
  const topics = await a.listTopics()
  if (!topics.includes(topic)) fail('listTopics does not list ' + topic)
  if (topics.includes(name('validate-only'))) fail('createTopics with validateOnly created the topic')

  const meta = (await a.fetchTopicMetadata({ topics: [topic] })).topics[0]
  same('fetchTopicMetadata partitions', [[0, 0], [1, 0], [2, 0]],
    meta.partitions.map(p => [p.partitionId, p.partitionErrorCode]).sort((x, y) => x[0] - y[0]))
  for (const p of meta.partitions) same(`partition ${p.partitionId} leader, replicas, isr`, [cluster.brokers[0].nodeId, [cluster.brokers[0].nodeId], [cluster.brokers[0].nodeId]], [p.leader, p.replicas, p.isr])

  // [name, value, source]: 1 is DYNAMIC_TOPIC_CONFIG, 5 DEFAULT_CONFIG.
  const describe = async () => (await a.describeConfigs({
    resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['retention.ms', 'max.message.bytes'] }],
    includeSynonyms: false,
  })).resources[0].configEntries.map(e => [e.configName, e.configValue, e.configSource]).sort()
  same('describeConfigs', [['max.message.bytes', '2000000', 1], ['retention.ms', '3600000', 1]], await describe())
  const all = (await a.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }], includeSynonyms: false })).resources[0]
  same('describeConfigs of all configs: error', 0, all.errorCode)
  if (!all.configEntries.some(e => e.configName === 'segment.bytes')) fail('describeConfigs of all configs has no segment.bytes')
  // AlterConfigs replaces the topic's overrides: max.message.bytes,
  // left out, goes back to its default.
  await a.alterConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries: [{ name: 'retention.ms', value: '7200000' }] }] })
  same('describeConfigs after alterConfigs', [['max.message.bytes', '1048588', 5], ['retention.ms', '7200000', 1]], await describe())

  await a.createPartitions({ topicPartitions: [{ topic, count: 4 }] })
  same('partitions after createPartitions', 4, (await a.fetchTopicMetadata({ topics: [topic] })).topics[0].partitions.length)
  ok('admin: describeCluster, createTopics (exists, validateOnly), listTopics, metadata, describe/alterConfigs, createPartitions')
  return topic
}

// produce sends the test records to topic and returns them as expected per
// partition.
async function produce (topic) {
  const want = { 0: [], 1: [], 2: [], 3: [] }
  const runs = [
    ['acks-all', { acks: -1 }],
    ['acks-one', { acks: 1 }],
    ['acks-zero', { acks: 0 }],
    ['gzip-all', { acks: -1, compression: CompressionTypes.GZIP }],
    ['gzip-one', { acks: 1, compression: CompressionTypes.GZIP }],
    ['gzip-zero', { acks: 0, compression: CompressionTypes.GZIP }],
  ]
  const base = Date.now() - 3600000
  let n = 0
  const producer = kafka.producer({ allowAutoTopicCreation: false })
  await producer.connect()
  for (const [run, opts] of runs) {
    // Two sends per run, so each partition gets several batches.
    for (let s = 0; s < 2; s++) {
      const messages = []
      for (let i = 0; i < 40; i++) {
        const partition = i % 4
        const ts = String(base + n++)
        let key = `k${i % 7}`
        let value = `${run}-${s}-${i} ` + 'x'.repeat(i * 3)
        if (i === 5) key = null
        if (i === 6) value = null
        if (i === 7 && s === 1) value = 'L'.repeat(300000) + run
        const headers = { run, seq: String(i), multi: ['first', 'second'] }
        messages.push({ partition, key, value, headers, timestamp: ts })
        want[partition].push(show(key, value, { run, seq: String(i), multi: ['first', 'second'] }, ts))
      }
      const res = await producer.send({ topic, messages, timeout: 10000, ...opts })
      if (opts.acks === 0) continue
      if (res.some(r => r.errorCode !== 0)) fail(`produce ${run}: ${JSON.stringify(res)}`)
    }
  }
  await producer.disconnect()

  // Idempotent: one producer id, sequences per partition.
  const idem = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false })
  await idem.connect()
  for (let s = 0; s < 5; s++) {
    const messages = []
    for (let i = 0; i < 12; i++) {
      const ts = String(base + n++)
      messages.push({ partition: i % 4, key: 'idem', value: `idem-${s}-${i}`, headers: { run: 'idem' }, timestamp: ts })
      want[i % 4].push(show('idem', `idem-${s}-${i}`, { run: 'idem' }, ts))
    }
    const res = await idem.send({ topic, acks: -1, messages, compression: s % 2 ? CompressionTypes.GZIP : CompressionTypes.None })
    if (res.some(r => r.errorCode !== 0)) fail(`idempotent produce: ${JSON.stringify(res)}`)
  }
  await idem.disconnect()
  ok(`produced ${n} records to 4 partitions (acks -1, 1, 0; none and gzip; idempotent)`)
  return want
}

async function offsets (a, topic, want) {
  // acks=0 gives no answer: the records are there once the high
  // watermarks add up.
  const total = Object.values(want).reduce((s, w) => s + w.length, 0)
  const high = await until(10000, 'all records in the topic', async () => {
    const o = await a.fetchTopicOffsets(topic)
    return o.reduce((s, p) => s + Number(p.high), 0) === total ? o : null
  })
  same('fetchTopicOffsets', [0, 1, 2, 3].map(p => [p, '0', String(want[p].length)]),
    high.map(o => [o.partition, o.low, o.high]).sort((x, y) => x[0] - y[0]))

  // A topic with known timestamps: two batches per partition, five records
  // each, the second batch an hour after the first.
  const ts = name('times')
  await a.createTopics({ topics: [{ topic: ts, numPartitions: 2 }], waitForLeaders: true })
  const t0 = Date.now() - 7200000
  const producer = kafka.producer({ allowAutoTopicCreation: false })
  await producer.connect()
  for (const base of [t0, t0 + 3600000]) {
    const messages = []
    for (const p of [0, 1]) for (let i = 0; i < 5; i++) messages.push({ partition: p, value: `t${i}`, timestamp: String(base + i * 10) })
    await producer.send({ topic: ts, acks: -1, messages })
  }
  await producer.disconnect()
  const byTime = async (t) => (await a.fetchTopicOffsetsByTimestamp(ts, t)).map(o => [o.partition, o.offset]).sort((x, y) => x[0] - y[0])
  same('offsets by a time before everything', [[0, '0'], [1, '0']], await byTime(t0 - 1000))
  same('offsets by the time of a record inside the first batch', [[0, '2'], [1, '2']], await byTime(t0 + 20))
  same('offsets by a time between records inside the first batch', [[0, '3'], [1, '3']], await byTime(t0 + 21))
  same('offsets by a time between the batches', [[0, '5'], [1, '5']], await byTime(t0 + 60000))
  same('offsets by a time inside the second batch', [[0, '9'], [1, '9']], await byTime(t0 + 3600000 + 35))
  same('offsets by a future time (kafkajs answers the latest)', [[0, '10'], [1, '10']], await byTime(Date.now() + 3600000))

  await a.deleteTopicRecords({ topic: ts, partitions: [{ partition: 0, offset: '4' }] })
  same('fetchTopicOffsets after deleteTopicRecords', [[0, '4', '10'], [1, '0', '10']],
    (await a.fetchTopicOffsets(ts)).map(o => [o.partition, o.low, o.high]).sort((x, y) => x[0] - y[0]))
  same('offsets by time before the deleted records', [[0, '4'], [1, '0']], await byTime(t0 - 1000))
  await a.deleteTopics({ topics: [ts] })
  ok('offsets: earliest, latest, by timestamp (before, inside and between batches, future), deleteTopicRecords')
}

// readAll runs one member of group until it has read n records, lets it
// run a little longer to catch any extra record, and stops it.
async function readAll (group, topic, n, what) {
  const m = new Member(group, topic)
  await m.start()
  await until(30000, `${what}: ${n} records read (have ${m.count})`, () => m.count >= n)
  await sleep(1000)
  await m.stop()
  return m
}

async function groups (a, topic, want) {
  const group = name('group')
  const first = await readAll(group, topic, Object.values(want).reduce((s, w) => s + w.length, 0), 'first read of the group')
  checkPartitions('consume from the beginning', want, first.records)
  ok(`consumed ${first.count} records: every partition exact and in order (keys, values, headers, timestamps)`)

  const high = await a.fetchTopicOffsets(topic)
  const committed = (await a.fetchOffsets({ groupId: group, topics: [topic] }))[0].partitions
  same('committed offsets after the first read', high.map(o => [o.partition, o.high]).sort(), committed.map(c => [c.partition, c.offset]).sort())

  // New records; the group resumes after its commit.
  const producer = kafka.producer({ allowAutoTopicCreation: false })
  await producer.connect()
  const more = { 0: [], 1: [], 2: [], 3: [] }
  const messages = []
  for (let i = 0; i < 12; i++) {
    const ts = String(Date.now())
    messages.push({ partition: i % 4, key: 'more', value: `more-${i}`, timestamp: ts })
    more[i % 4].push(show('more', `more-${i}`, {}, ts))
  }
  await producer.send({ topic, acks: -1, messages })
  await producer.disconnect()
  const second = await readAll(group, topic, 12, 'the group resuming')
  const from = {}
  for (const p of [0, 1, 2, 3]) from[p] = want[p].length
  checkPartitions('the group resuming from its commit', more, second.records, from)
  ok('the group resumed from its committed offsets: no record read twice')

  if (!(await a.listGroups()).groups.some(g => g.groupId === group && g.protocolType === 'consumer')) fail('listGroups does not list ' + group)
  const described = (await a.describeGroups([group])).groups[0]
  same('describeGroups of the stopped group', ['Empty', 'consumer', 0], [described.state, described.protocolType, described.members.length])

  // setOffsets rewinds partition 2 of the group to offset 3.
  await a.setOffsets({ groupId: group, topic, partitions: [{ partition: 2, offset: '3' }] })
  const rewound = (await a.fetchOffsets({ groupId: group, topics: [topic] }))[0].partitions.find(c => c.partition === 2)
  same('committed offset of partition 2 after setOffsets', '3', rewound.offset)
  const third = await readAll(group, topic, want[2].length + more[2].length - 3, 'the group after setOffsets')
  checkPartitions('the group after setOffsets', { 2: want[2].slice(3).concat(more[2]) }, third.records, { 2: 3 })
  ok('admin setOffsets rewound the group; listGroups, describeGroups')

  await a.deleteGroups([group])
  if ((await a.listGroups()).groups.some(g => g.groupId === group)) fail('deleteGroups left ' + group)
  return more
}

async function rebalance (a, topic) {
  const group = name('pair')
  const m1 = new Member(group, topic)
  await m1.start()
  await until(20000, 'first member joined with all 4 partitions', () => m1.assignment && m1.assignment.length === 4)
  const joins1 = m1.joins
  const m2 = new Member(group, topic)
  await m2.start()
  await until(30000, 'second member joined and the first rejoined', () => m2.assignment && m1.joins > joins1)
  const a1 = m1.assignment
  const a2 = m2.assignment
  same('the two members split the partitions', [0, 1, 2, 3], a1.concat(a2).sort())
  if (a1.length !== 2 || a2.length !== 2) fail(`uneven split: ${JSON.stringify([a1, a2])}`)
  const d = (await a.describeGroups([group])).groups[0]
  same('describeGroups of the pair', ['Stable', 'RoundRobinAssigner', 2], [d.state, d.protocol, d.members.length])
  for (const m of [m1, m2]) {
    const dm = d.members.find(x => x.memberId === m.memberId)
    if (!dm) fail(`describeGroups has no member ${m.memberId}: ${JSON.stringify(d.members.map(x => x.memberId))}`)
    same(`describeGroups client id and host of ${m.memberId}`, ['weir-compat', true], [dm.clientId, dm.clientHost.startsWith('/')])
    same(`describeGroups assignment of ${m.memberId}`, { [topic]: m.assignment },
      AssignerProtocol.MemberAssignment.decode(dm.memberAssignment).assignment)
    same(`describeGroups metadata of ${m.memberId}`, [topic], AssignerProtocol.MemberMetadata.decode(dm.memberMetadata).topics)
  }

  // One new record per partition; each goes to the member owning it.
  const base = {}
  for (const o of await a.fetchTopicOffsets(topic)) base[o.partition] = Number(o.high)
  const c1 = m1.count
  const c2 = m2.count
  const producer = kafka.producer({ allowAutoTopicCreation: false })
  await producer.connect()
  await producer.send({ topic, acks: -1, messages: [0, 1, 2, 3].map(p => ({ partition: p, value: `pair-${p}` })) })
  await producer.disconnect()
  await until(15000, 'both members read their new records', () => m1.count - c1 === 2 && m2.count - c2 === 2)
  for (const [m, asg] of [[m1, a1], [m2, a2]]) {
    for (const p of asg) {
      const last = m.records[p][m.records[p].length - 1]
      same(`record read from partition ${p}`, base[p], last[0])
    }
  }

  const joins = m1.joins
  await m2.stop()
  await until(20000, 'the first member rejoined with all partitions', () => m1.joins > joins && m1.assignment.length === 4)
  await m1.stop()
  ok('two members split 4 partitions 2/2, each read its own; the survivor took all 4')
}

// logAppendTime checks a LogAppendTime topic: the broker stamps each batch
// (rewriting its max timestamp and CRC), answers the time in the produce
// response, and consumers read that time instead of the producer's.
async function logAppendTime (a) {
  const topic = name('append-time')
  await a.createTopics({ topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'message.timestamp.type', value: 'LogAppendTime' }] }], waitForLeaders: true })
  const producer = kafka.producer({ allowAutoTopicCreation: false })
  await producer.connect()
  const before = Date.now()
  const stamps = []
  for (const compression of [CompressionTypes.None, CompressionTypes.GZIP]) {
    const res = await producer.send({ topic, acks: -1, compression, messages: [{ value: 'a', timestamp: '1000' }, { value: 'b', timestamp: '2000' }] })
    const t = Number(res[0].logAppendTime)
    if (!(t >= before && t <= Date.now())) fail(`logAppendTime in the produce response: ${res[0].logAppendTime}, want the broker's time`)
    stamps.push(String(t), String(t))
  }
  await producer.disconnect()
  const m = await readAll(name('append-time-group'), topic, 4, 'LogAppendTime topic')
  same('timestamps read from a LogAppendTime topic', stamps, m.records[0].map(r => r[1].split('|')[3]))
  await a.deleteTopics({ topics: [topic] })
  ok('LogAppendTime topic: broker time in the produce response and in the records read')
}

// outOfRange checks that a group whose committed offset fell below the log
// start (deleteTopicRecords) gets OFFSET_OUT_OF_RANGE and restarts from the
// earliest offset.
async function outOfRange (a) {
  const topic = name('out-of-range')
  await a.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true })
  const producer = kafka.producer({ allowAutoTopicCreation: false })
  await producer.connect()
  await producer.send({ topic, acks: -1, messages: Array.from({ length: 10 }, (_, i) => ({ value: `v${i}` })) })
  await producer.disconnect()
  const group = name('out-of-range-group')
  await a.setOffsets({ groupId: group, topic, partitions: [{ partition: 0, offset: '2' }] })
  await a.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '6' }] })
  const m = await readAll(group, topic, 4, 'group below the log start')
  same('records read after OFFSET_OUT_OF_RANGE', [6, 7, 8, 9], m.records[0].map(r => r[0]))
  await a.deleteTopics({ topics: [topic] })
  ok('a committed offset below the log start: OFFSET_OUT_OF_RANGE, reset to the earliest')
}

async function main () {
  const a = kafka.admin()
  await a.connect()
  const topic = await admin(a)
  const want = await produce(topic)
  await offsets(a, topic, want)
  await groups(a, topic, want)
  await rebalance(a, topic)
  await logAppendTime(a)
  await outOfRange(a)
  await a.deleteTopics({ topics: [topic] })
  await until(5000, 'topic deleted', async () => !(await a.listTopics()).includes(topic))
  await a.disconnect()
  ok('deleteTopics')
}

const deadline = setTimeout(() => fail('did not finish within 130 s'), 130000)
main().then(() => {
  clearTimeout(deadline)
  console.log('compat kafkajs: PASS')
  process.exit(0)
}, err => fail(err && err.stack ? err.stack : String(err)))
