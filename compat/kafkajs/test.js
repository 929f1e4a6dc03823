// Weir against kafkajs (a pure JavaScript client): admin APIs, produce with
// each acks level, gzip and the idempotent producer, consume back with
// exact content, offsets by time, and a consumer group that resumes from
// its commit. Usage: node test.js HOST:PORT. Exits non-zero on any
// mismatch; every wait is bounded.
'use strict'
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'
const { Kafka, logLevel, CompressionTypes } = require('kafkajs')

const kafka = new Kafka({
  clientId: 'weir-compat',
  brokers: [process.argv[2]],
  logLevel: logLevel.ERROR,
  connectionTimeout: 5000,
  requestTimeout: 15000,
  retry: { retries: 5 },
})

function fail (msg) {
  console.error('compat kafkajs: FAIL: ' + msg)
  process.exit(1)
}
function ok (msg) { console.log('ok: kafkajs: ' + msg) }
function same (what, want, got) {
  const w = JSON.stringify(want)
  const g = JSON.stringify(got)
  if (w !== g) fail(`${what}: got ${g.slice(0, 300)}, want ${w.slice(0, 300)}`)
}

// consume reads want messages as a member of group (or of a fresh group)
// and returns them as [partition, offset, key, value, header h].
async function consume (topic, groupId, want) {
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 1000 })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const got = []
  try {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out with ${got.length} of ${want} messages`)), 30000)
      consumer.run({
        eachMessage: async ({ partition, message }) => {
          got.push([partition, Number(message.offset), message.key && message.key.toString(),
            message.value.toString(), message.headers.h ? message.headers.h.toString() : null])
          if (got.length >= want) {
            clearTimeout(timer)
            resolve()
          }
        },
      })
    })
  } finally {
    await consumer.disconnect()
  }
  return got
}

async function main () {
  const admin = kafka.admin()
  await admin.connect()
  const topic = 'kafkajs-' + Date.now()

  // Admin: create with a config, list, metadata, configs, partitions.
  if (!await admin.createTopics({ topics: [{ topic, numPartitions: 3, configEntries: [{ name: 'retention.ms', value: '3600000' }] }], waitForLeaders: true })) {
    fail('createTopics returned false')
  }
  if (!(await admin.listTopics()).includes(topic)) fail('listTopics does not list ' + topic)
  const describe = async () => (await admin.describeConfigs({ resources: [{ type: 2, name: topic, configNames: ['retention.ms'] }], includeSynonyms: false }))
    .resources[0].configEntries.map(e => [e.configName, e.configValue])
  same('describeConfigs', [['retention.ms', '3600000']], await describe())
  await admin.alterConfigs({ resources: [{ type: 2, name: topic, configEntries: [{ name: 'retention.ms', value: '7200000' }] }] })
  same('describeConfigs after alterConfigs', [['retention.ms', '7200000']], await describe())
  await admin.createPartitions({ topicPartitions: [{ topic, count: 4 }] })
  same('partitions after createPartitions', 4, (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0].partitions.length)
  ok('admin: create, list, describe/alter configs, create partitions')

  // Produce: keyed records with a header, per acks level and codec.
  const expect = []
  const runs = [['all', { acks: -1 }], ['one', { acks: 1 }], ['gzip', { acks: -1, compression: CompressionTypes.GZIP }]]
  for (const [name, opts] of runs) {
    const producer = kafka.producer()
    await producer.connect()
    const messages = []
    for (let i = 0; i < 60; i++) {
      messages.push({ key: 'k' + (i % 7), value: `${name}-${i}`, headers: { h: `${name}/${i}` } })
      expect.push(['k' + (i % 7), `${name}-${i}`, `${name}/${i}`])
    }
    const res = await producer.send({ topic, messages, ...opts })
    await producer.disconnect()
    if (res.some(r => r.errorCode !== 0)) fail(`produce ${name}: ${JSON.stringify(res)}`)
  }
  const idem = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await idem.connect()
  for (let i = 0; i < 10; i++) {
    await idem.send({ topic, acks: -1, messages: [{ key: 'idem', value: `idem-${i}`, headers: { h: `idem/${i}` } }] })
    expect.push(['idem', `idem-${i}`, `idem/${i}`])
  }
  await idem.disconnect()
  ok(`produced ${expect.length} records (acks all, 1, gzip, idempotent)`)

  // Offsets: latest - earliest adds up; a timestamp a minute ago is offset 0.
  const offsets = await admin.fetchTopicOffsets(topic)
  same('records in the topic', expect.length, offsets.reduce((n, p) => n + Number(p.high) - Number(p.low), 0))
  const byTime = await admin.fetchTopicOffsetsByTimestamp(topic, Date.now() - 60000)
  for (const p of byTime) {
    const hi = offsets.find(o => o.partition === p.partition).high
    if (Number(p.offset) !== 0 && !(Number(hi) === 0 && Number(p.offset) === -1)) fail(`offset by time, partition ${p.partition}: ${p.offset}`)
  }
  ok('offsets: earliest, latest, by timestamp')

  // Consume as a group: every record exactly, each key in produce order,
  // dense offsets per partition.
  const group = 'g-' + topic
  const got = await consume(topic, group, expect.length)
  same('consumed records', expect.map(e => e.join('|')).sort(), got.map(m => [m[2], m[3], m[4]].join('|')).sort())
  const lastByKey = {}
  const nextOffset = {}
  for (const [p, off, key, value] of got) {
    if (off !== (nextOffset[p] || 0)) fail(`partition ${p}: offset ${off}, want ${nextOffset[p] || 0}`)
    nextOffset[p] = off + 1
    const seq = expect.findIndex(e => e[1] === value)
    if (key in lastByKey && seq <= lastByKey[key]) fail(`key ${key}: ${value} after a later record`)
    lastByKey[key] = seq
  }
  ok(`consumed ${got.length} records in a group: exact, ordered per key`)

  // The group resumes from its commit: only new records are read.
  const producer = kafka.producer()
  await producer.connect()
  await producer.send({ topic, acks: -1, messages: Array.from({ length: 10 }, (_, i) => ({ value: `more-${i}` })) })
  await producer.disconnect()
  const got2 = await consume(topic, group, 10)
  same('records read on resuming the group', Array.from({ length: 10 }, (_, i) => `more-${i}`).sort(), got2.map(m => m[3]).sort())
  ok('group resumed from its committed offsets')

  // Group admin.
  if (!(await admin.listGroups()).groups.some(g => g.groupId === group)) fail('listGroups does not list ' + group)
  const described = (await admin.describeGroups([group])).groups[0]
  same('describeGroups state', 'Empty', described.state)
  const committed = (await admin.fetchOffsets({ groupId: group, topics: [topic] }))[0].partitions
  const latest = await admin.fetchTopicOffsets(topic)
  for (const c of committed) {
    same(`committed offset of partition ${c.partition}`, latest.find(o => o.partition === c.partition).high, c.offset)
  }
  await admin.deleteGroups([group])
  await admin.deleteTopics({ topics: [topic] })
  if ((await admin.listTopics()).includes(topic)) fail('deleteTopics left ' + topic)
  await admin.disconnect()
  ok('groups: list, describe, fetch offsets, delete; topic deleted')
}

const deadline = setTimeout(() => fail('did not finish within 120 s'), 120000)
main().then(() => {
  clearTimeout(deadline)
  console.log('compat kafkajs: PASS')
}, err => fail(err && err.stack ? err.stack : String(err)))
